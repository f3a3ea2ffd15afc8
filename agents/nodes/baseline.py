"""``baseline``: run the task unchanged once, so every later number has a reference."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents import remember
from agents.context import ResearchContext
from agents.errors import InvalidTask
from agents.experiments import brief, run_experiment
from agents.state import ResearchState


def baseline(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Run the unchanged task on seed 0; a failing baseline stops the job with the reason."""
    ctx = runtime.context
    run = run_experiment(ctx, iteration=0, role="baseline", n=0, seed=0, params={}, files={},
                         idea_title="baseline")
    if run["value"] is None:
        raise InvalidTask(
            f"the baseline experiment of task {ctx.task.name!r} failed ({run['error'] or run['status']}); "
            f"try it alone with `labloop sandbox run {ctx.task_dir}` and fix it first"
        )
    remember.outcome(ctx, run, idea_item={"title": "baseline"}, baseline_value=None)
    reference = {"experiment_id": run["experiment_id"], "value": run["value"], "metrics": run["metrics"],
                 "params": {}, "title": "baseline"}
    return {"baseline": {**reference, "by_seed": {"0": run["value"]}}, "best": reference,
            "experiments": [brief(run)], "iteration": 1}
