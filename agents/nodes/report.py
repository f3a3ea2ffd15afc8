"""``report``: write the Markdown report and its plot under the job's folder."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.context import ResearchContext
from agents.report import write_report
from agents.state import ResearchState


def report(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Write ``report.md`` and ``metric.png``; return the report's path."""
    ctx = runtime.context
    path = write_report(ctx.task, state, ctx.job_dir)
    ctx.journal.emit(ctx.job_id, "report", {"path": str(path)})
    return {"report_path": str(path)}
