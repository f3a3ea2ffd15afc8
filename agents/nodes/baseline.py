"""``baseline``: run the task unchanged once; the run is the tree's root and the first incumbent.

A task that starts from data (its entrypoint's file is absent, see :mod:`agents.drafting`) has
nothing to run: its root is "no solution yet" and the llm strategy's first round drafts.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents import remember
from agents.context import ResearchContext
from agents.drafting import missing_solution, no_baseline_message
from agents.errors import InvalidTask
from agents.experiments import brief, output_tail, run_experiment
from agents.state import ROOT, Idea, Node, ResearchState
from agents.template import no_metric_refusal


def baseline(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Run the unchanged task on seed 0; a failing baseline stops the job with the reason."""
    ctx = runtime.context
    missing = missing_solution(ctx.task, ctx.task_dir)
    if missing is not None:
        return no_solution(ctx, missing)
    run = run_experiment(ctx, node=ROOT, iteration=0, role="baseline", n=0, seed=0, params={}, files={},
                         idea_title="baseline")
    if not ctx.task.metric_given and run["metrics"]:  # an AI Scientist template run without --metric
        raise InvalidTask(no_metric_refusal(ctx.task_dir, run["metrics"]))
    if run["value"] is None:
        raise InvalidTask(
            f"the baseline experiment of task {ctx.task.name!r} failed ({run['error'] or run['status']}); "
            f"try it alone with `labloop sandbox run {ctx.task_dir}` and fix it first"
        )
    remember.outcome(ctx, run, idea_item={"title": "baseline"}, baseline_value=None)
    root = Node(id=ROOT, parent=None, operator="root", round=0, debug_depth=0,
                idea=Idea(title="baseline", hypothesis="the task as given", plan="", params={}, source="baseline"),
                files={}, params={}, diff="", explanation="", status="succeeded", value=run["value"],
                metrics=dict(run["metrics"]), error=None, output_tail=output_tail(run),
                experiment_id=run["experiment_id"], fate="baseline", summary="", lesson="", verdict=None,
                critique=None)
    reference = {"experiment_id": run["experiment_id"], "value": run["value"], "metrics": run["metrics"],
                 "params": {}, "title": "baseline", "node": ROOT}
    return {"baseline": {**reference, "by_seed": {"0": run["value"]}}, "best": reference, "incumbent": ROOT,
            "nodes": [root], "experiments": [brief(run)], "iteration": 1}


def no_solution(ctx: ResearchContext, missing: str) -> ResearchState:
    """The root of a task that starts from data: not run, "no solution yet", the incumbent until a draft runs."""
    if ctx.strategy != "llm":  # refused when the job was made; the task folder may have changed since
        raise InvalidTask(no_baseline_message(ctx.task, missing, why=", and the search strategy needs one to tune"))
    root = Node(id=ROOT, parent=None, operator="root", round=0, debug_depth=0,
                idea=Idea(title="no solution yet", hypothesis=f"the task starts from data: it has no {missing}",
                          plan="", params={}, source="baseline"),
                files={}, params={}, diff="", explanation="", status="empty", value=None, metrics={}, error=None,
                output_tail="", experiment_id=None, fate="no_solution", summary="", lesson="", verdict=None,
                critique=None)
    ctx.journal.emit(ctx.job_id, "idea", {"iteration": 0, "node": ROOT, "operator": "root", "title": "no solution yet"})
    ctx.journal.emit(ctx.job_id, "tree", {"node": ROOT, "parent": None, "operator": "root", "status": "empty",
                                          "fate": "no_solution", "value": None})
    note = (f"no baseline: the task folder has no {missing}, so the job started from data and drafted the first "
            "solution; gains are measured from the first draft that ran and was graded")
    return {"baseline": {"experiment_id": None, "value": None, "metrics": {}, "by_seed": {}, "missing": missing},
            "best": {}, "incumbent": ROOT, "nodes": [root], "experiments": [], "iteration": 1, "notes": [note]}
