"""``execute``: run a branch's candidate on seed 0 in the sandbox (one experiment per step)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.context import ResearchContext
from agents.experiments import brief, run_experiment
from agents.state import BranchState


def execute(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Run the branch's candidate (seed 0); its experiment id names the tree node."""
    ctx, expansion = runtime.context, state["expansion"]
    candidate, idea = state["candidate"], state["idea"]
    assert candidate is not None
    run = run_experiment(
        ctx, node=expansion["node"], iteration=expansion["round"],
        role="debug" if expansion["operator"] == "debug" else "candidate", n=0, seed=0,
        params=candidate["params"], files=candidate["files"], idea_title=idea["title"] if idea else "",
    )
    return {"run": run, "experiments": [brief(run)]}
