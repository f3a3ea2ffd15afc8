"""``select``: choose the round's expansions (see agents/tree.py for the policy) and fan them out."""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import Send

from agents import remember, tree
from agents.briefing import slim_decision
from agents.context import ResearchContext
from agents.search import propose_many
from agents.state import ROOT, BranchState, Expansion, Node, ResearchState


def _slots(ctx: ResearchContext, state: ResearchState) -> int:
    """Parallel slots this round, never more than the experiment budget has left."""
    budget = ctx.task.budget.experiments
    if budget is None:
        return ctx.task.search.parallel
    return max(1, min(ctx.task.search.parallel, budget - len(state.get("experiments", []))))


def select(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """The round's expansions; strategy search gets its distinct points here, one study for all slots."""
    ctx, round_ = runtime.context, state["iteration"]
    nodes, incumbent = state.get("nodes", []), state.get("incumbent", ROOT)
    expansions = tree.select_expansions(ctx.task, job_id=ctx.job_id, round_=round_, nodes=nodes, incumbent=incumbent,
                                        strategy=ctx.strategy)[: _slots(ctx, state)]
    if ctx.strategy == "search" and ctx.task.params:
        recalled = remember.recall(ctx, ctx.task.goal)
        avoid = [r["idea"].get("params") or {} for r in state.get("rejections", [])]
        improving = [e for e in expansions if e["operator"] != "ablate"]
        ideas = propose_many(ctx.task, job_id=ctx.job_id, iteration=round_, told=tree.told(nodes),
                             prior=recalled.prior_trials if recalled else [], avoid=avoid, count=len(improving))
        for expansion, idea in zip(improving, ideas, strict=True):
            expansion["proposal"] = idea
    ctx.journal.emit(ctx.job_id, "select", {"iteration": round_, "expansions": [
        {"node": e["node"], "operator": e["operator"], "parent": e["parent"]} for e in expansions]})
    return {"expansions": expansions, "verification": None, "verdict": None, "critique": None, "checkpoint": None,
            "gate": None}


def fan_out(state: ResearchState) -> list[Send]:
    """One branch per expansion, run in parallel (LangGraph ``Send``), each with the tree as select saw it."""
    incumbent = state.get("incumbent", ROOT)
    return [Send("branch", BranchState(
        expansion=e, iteration=e["round"], tree=slim(state.get("nodes", []), e, incumbent), incumbent=incumbent,
        baseline=state.get("baseline", {}), prior_rejections=list(state.get("rejections", [])),
        prior_decisions=[slim_decision(d) for d in state.get("decisions", []) if d["reason"] or d["edit"]],
        tokens_before=state.get("tokens", 0),
    )) for e in state["expansions"]]


def slim(nodes: list[Node], expansion: Expansion, incumbent: str) -> list[Node]:
    """The tree a branch gets: every node, but only the ones it may build on keep their files and output.

    A branch reads the code of its parent, the parent's parent (an ablation) and the incumbent
    (a draft's prompt); the rest it sees through the tree summary and the lessons. The branch's
    checkpoints store its input, so a lean tree keeps every step's write small.
    """
    by_id = tree.by_id(nodes)
    parent = by_id.get(expansion["parent"])
    keep = {expansion["parent"], incumbent, (parent["parent"] if parent else None) or ROOT}
    return [n if n["id"] in keep else Node(**{**n, "files": {}, "diff": "", "output_tail": ""})
            for n in nodes]
