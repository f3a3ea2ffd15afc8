"""``execute``: run a branch's candidate on seed 0 in the sandbox (one experiment per step)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents import duplicates
from agents.context import ResearchContext
from agents.experiments import brief, run_experiment
from agents.protocols import ExperimentRole
from agents.state import BranchState


def execute(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Run the branch's candidate (seed 0); its experiment id names the tree node.

    A candidate whose content a node of the tree already ran (or a sibling branch runs) is not
    run: it takes that node's result (agents/duplicates.py) and adds no experiment.
    """
    ctx, expansion = runtime.context, state["expansion"]
    candidate, idea = state["candidate"], state["idea"]
    assert candidate is not None
    role: ExperimentRole = "debug" if expansion["operator"] == "debug" else "candidate"
    with duplicates.claim(ctx, state, role=role) as original:
        if original is not None:
            return {"run": original}
        run = run_experiment(
            ctx, node=expansion["node"], iteration=expansion["round"], role=role, n=0, seed=0,
            params=candidate["params"], files=candidate["files"], idea_title=idea["title"] if idea else "",
        )
    return {"run": run, "experiments": [brief(run)]}
