"""``decide``: conclude the round (fates, the finding, the incumbent, memory), then stop or go on."""

from __future__ import annotations

import time

from langgraph.runtime import Runtime

from agents import duplicates, remember, tree
from agents.context import ResearchContext
from agents.state import ROOT, Finding, Node, ResearchState
from agents.verify import RULE, beats


def decide(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Record what the round found (negative results too) and check every budget."""
    ctx = runtime.context
    update = _conclude(ctx, state)
    stop = state.get("stop_reason") or budget_stop(ctx, state)
    if stop:
        ctx.journal.emit(ctx.job_id, "stopping", {"iteration": state["iteration"], "reason": stop})
    return {**update, "stop_reason": stop, "iteration": state["iteration"] + (0 if stop else 1),
            "verification": None, "verdict": None, "critique": None, "checkpoint": None, "gate": None}


def budget_stop(ctx: ResearchContext, state: ResearchState) -> str | None:
    """Why the job must stop now (cancel, iterations, experiments, wall clock, LLM tokens), or None."""
    budget = ctx.task.budget
    if ctx.should_stop():
        return "cancelled: a cancel was requested"
    if state["iteration"] >= budget.iterations:
        return f"iteration budget reached ({budget.iterations} iterations)"
    ran = len(state.get("experiments", []))
    if budget.experiments is not None and ran >= budget.experiments:
        return f"experiment budget reached ({ran} of {budget.experiments} experiments)"
    if budget.wall_clock_s is not None and time.time() - state["started_at"] > budget.wall_clock_s:
        return f"wall-clock budget reached ({budget.wall_clock_s:.0f} s)"
    if ctx.strategy == "llm" and state.get("tokens", 0) >= budget.llm_tokens:
        return f"LLM token budget reached ({state.get('tokens', 0)} of {budget.llm_tokens})"
    return None


def _fate(ctx: ResearchContext, node: Node, incumbent: Node) -> str:
    if duplicates.is_duplicate(node):
        return node["fate"]  # "duplicate of NODE": it was not tested, so it neither improved nor failed
    if node["status"] != "succeeded":
        return node["status"]  # failed | rejected
    if incumbent["value"] is None:  # no solution yet to compare with
        return "no_gain"
    return "improved" if beats(ctx.task, float(node["value"] or 0.0), float(incumbent["value"])) else "no_gain"


def _adopt(ctx: ResearchContext, state: ResearchState, round_nodes: list[Node]) -> tuple[Node | None, ResearchState]:
    """A task that started from data has no incumbent until a draft runs and is graded: the round's
    best such node (on seed 0) becomes the first incumbent, unverified — there is nothing to verify
    it against — and the reference every later gain is measured from."""
    originals = [n for n in round_nodes if not duplicates.is_duplicate(n)]  # a twin is never the one adopted
    first = next(iter(tree.ranked(ctx.task, originals, ROOT)), None)
    if first is None:
        return None, {}
    reference = {"experiment_id": first["experiment_id"], "value": first["value"], "metrics": first["metrics"],
                 "params": first["params"], "title": first["idea"]["title"], "node": first["id"]}
    ctx.journal.emit(ctx.job_id, "incumbent", {"node": first["id"], "value": first["value"], "adopted": True})
    return first, {"incumbent": first["id"], "best": reference,
                   "baseline": {**state["baseline"], **reference, "by_seed": {"0": first["value"]}}}


def _conclude(ctx: ResearchContext, state: ResearchState) -> ResearchState:
    round_, nodes = state["iteration"], tree.by_id(state.get("nodes", []))
    incumbent = nodes[state["incumbent"]]
    verdict, check, gate = state.get("verdict"), state.get("verification"), state.get("gate")
    update: ResearchState = {}
    concluded: list[Node] = []
    round_nodes = [n for n in nodes.values() if n["round"] == round_]
    adopted = None
    if not tree.has_solution(incumbent):
        adopted, update = _adopt(ctx, state, round_nodes)
        incumbent = adopted or incumbent
    for node in round_nodes:
        node = Node(**node)
        node["fate"] = "adopted" if adopted and node["id"] == adopted["id"] else _fate(ctx, node, incumbent)
        if check is not None and verdict is not None and node["id"] == check["node"]:
            node["verdict"], node["critique"] = verdict, state.get("critique")
            if verdict["verified"]:
                accepted = not (gate is not None and gate["kind"] == "finding" and gate["action"] == "reject")
                node["fate"] = "verified" if accepted else "rejected"
                update["findings"] = [_finding(state, node, accepted)]
                if accepted:
                    update["incumbent"] = node["id"]
                    update["best"] = {"experiment_id": node["experiment_id"], "value": node["value"],
                                      "metrics": node["metrics"], "params": node["params"],
                                      "title": node["idea"]["title"], "node": node["id"]}
            else:
                node["fate"] = "not_verified"
        concluded.append(node)
        _remember(ctx, state, node)
        ctx.journal.emit(ctx.job_id, "tree", {"node": node["id"], "parent": node["parent"], "operator": node["operator"],
                                              "status": node["status"], "fate": node["fate"], "value": node["value"],
                                              **({"refused": node["refused"]} if node.get("refused") else {})})
    for made in state.get("decisions", []):
        if made["iteration"] == round_:
            subject = nodes.get(made["node"])
            remember.decision(ctx, made, subject=subject["idea"] if subject else {})
    return {**update, "nodes": concluded}


def _remember(ctx: ResearchContext, state: ResearchState, node: Node) -> None:
    verified = node["fate"] == "verified"
    remember.idea(ctx, node["round"], node["idea"], fate=node["fate"], attempt=int(node["idea"].get("attempt", 0)),
                  value=node["value"], reason=_rejection_reason(state, node), verified=verified, node=node["id"])
    if node["experiment_id"] is not None and not duplicates.is_duplicate(node):  # the original's outcome is kept
        run = {"experiment_id": node["experiment_id"], "iteration": node["round"], "node": node["id"],
               "value": node["value"], "params": node["params"], "error": node["error"],
               "status": "succeeded" if node["status"] == "succeeded" else "failed"}
        idea = {**node["idea"], "lesson": node["lesson"]}
        remember.outcome(ctx, run, idea_item=idea, baseline_value=state["baseline"]["value"], verified=verified)


def _rejection_reason(state: ResearchState, node: Node) -> str:
    reasons = [d["reason"] for d in state.get("decisions", []) if d["node"] == node["id"] and d["action"] == "reject"]
    return reasons[-1] if reasons else ""


def _finding(state: ResearchState, node: Node, accepted: bool) -> Finding:
    verdict, gate = node["verdict"], state.get("gate")
    assert verdict is not None
    edited = gate["edit"].get("summary") if gate is not None and gate["action"] == "edit" else None
    artifacts = [e["artifacts"] for e in state.get("experiments", []) if e["experiment_id"] == node["experiment_id"]]
    return Finding(
        iteration=node["round"], node=node["id"], title=node["idea"]["title"], hypothesis=node["idea"]["hypothesis"],
        summary=str(edited or f"{node['idea']['title']}: {verdict['reason']}"), experiment_id=node["experiment_id"],
        value=node["value"], params=node["params"], mean_gain=verdict["mean_gain"], stderr=verdict["stderr"],
        n=verdict["n"], pairs=verdict["pairs"], against=verdict["against"], baseline_pairs=verdict["baseline_pairs"],
        baseline_gain=verdict["baseline_gain"], rule=RULE, replicates=int(verdict.get("replicates", verdict["n"])),
        looks=list(verdict.get("looks", [])), diff=node["diff"], accepted=accepted,
        decided_by=gate["by"] if gate else "", reason=gate["reason"] if gate else "",
        artifacts=artifacts[0] if artifacts else [], critique=node["critique"],
    )
