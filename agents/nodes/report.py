"""``report``: write the Markdown report and its plots under the job's folder.

An AI Scientist template's ``plot.py`` runs first, in the sandbox (never on the host), in a
workspace holding the template (with the incumbent's changes) plus ``run_0/`` — the baseline's
outputs — and ``run_1/`` — the incumbent's, when a change was verified; the PNGs it makes go
into the report.
"""

from __future__ import annotations

import shutil

from langgraph.runtime import Runtime

from agents import tree
from agents.context import ResearchContext
from agents.experiments import RESULT_FILE, materialize
from agents.nodes.paper import wanted
from agents.report import write_report
from agents.state import ROOT, ResearchState
from agents.template import PLOT_COMMAND, PLOT_FILE, is_template
from sandbox.result import ExperimentResult, RunRequest

PLOT_DIR = "plot"


def template_plots(ctx: ResearchContext, state: ResearchState) -> tuple[list[str], str]:
    """Run a template's plot.py over the baseline's and the incumbent's outputs; return the PNGs
    it made (relative to the job folder) and why it failed ("" when it did not)."""
    if not is_template(ctx.task_dir) or not (ctx.task_dir / PLOT_FILE).is_file():
        return [], ""
    nodes = tree.by_id(state.get("nodes", []))
    root, incumbent = nodes.get(ROOT), nodes.get(state.get("incumbent") or ROOT)
    if root is None or incumbent is None:
        return [], ""
    plot_dir = ctx.job_dir / PLOT_DIR
    cached = plot_dir / RESULT_FILE
    if cached.is_file():
        result = ExperimentResult.model_validate_json(cached.read_text(encoding="utf-8"))
    else:
        workspace, output = plot_dir / "workspace", plot_dir / "output"
        materialize(ctx.task_dir, workspace, files=incumbent["files"], params=incumbent["params"])
        runs = [root] if incumbent["id"] == ROOT else [root, incumbent]
        for i, node in enumerate(runs):
            source = ctx.job_dir / str(node["experiment_id"]) / "output"
            if source.is_dir():
                shutil.copytree(source, workspace / f"run_{i}")
        shutil.rmtree(output, ignore_errors=True)
        output.mkdir(parents=True)
        result = ctx.runner.run(RunRequest(
            workspace=workspace, output_dir=output, command=PLOT_COMMAND,
            limits=ctx.task.sandbox.limits(ctx.task.budget.experiment_timeout_s), seed=0, metric=None,
            labels={"job": ctx.job_id, "experiment": f"{ctx.job_id}-{PLOT_DIR}"}, image=ctx.task.sandbox.image,
        ))
        cached.write_text(result.model_dump_json(), encoding="utf-8")
    pngs = [f"{PLOT_DIR}/output/{a.path}" for a in result.artifacts if a.path.lower().endswith(".png")]
    error = "" if result.succeeded else (result.error or result.status) + (
        f": {result.stderr_tail[-300:]}" if result.stderr_tail else "")
    ctx.journal.emit(ctx.job_id, "plot", {"status": result.status, "error": error or None, "plots": pngs})
    return pngs, error


def report(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Write ``report.md`` and ``metric.png`` (and a template's plots); return the report's path."""
    ctx = runtime.context
    plots, plot_error = template_plots(ctx, state)
    path = write_report(ctx.task, state, ctx.job_dir, plots=plots, plot_error=plot_error)
    ctx.journal.emit(ctx.job_id, "report", {"path": str(path)})
    if ctx.paper and state.get("paper") is None:
        return {"report_path": str(path), "paper": wanted()}
    return {"report_path": str(path)}
