"""``report``: write the Markdown report and its plot under the job's folder."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.context import ResearchContext
from agents.report import PLOT_FILE, plot_metric, render
from agents.state import ResearchState


def report(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Write ``report.md`` and ``metric.png``; return the report's path."""
    ctx = runtime.context
    ctx.job_dir.mkdir(parents=True, exist_ok=True)
    plot_metric(ctx.task, state.get("experiments", []), ctx.job_dir / PLOT_FILE)
    path = ctx.job_dir / "report.md"
    path.write_text(render(ctx.task, state), encoding="utf-8")
    ctx.journal.emit(ctx.job_id, "report", {"path": str(path)})
    return {"report_path": str(path)}
