"""``decide``: conclude the iteration (fate, finding, memory), then stop on a budget or go on."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from agents import remember
from agents.context import ResearchContext
from agents.recall import outcome_fate
from agents.state import Json, ResearchState
from agents.verify import RULE


def decide(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Record what the iteration found (negative results too) and check every budget."""
    ctx = runtime.context
    update: ResearchState = _conclude(ctx, state) if state.get("idea") else {}
    stop = state.get("stop_reason") or budget_stop(ctx, state)
    if stop:
        ctx.journal.emit(ctx.job_id, "stopping", {"iteration": state["iteration"], "reason": stop})
    return {**update, "stop_reason": stop, "iteration": state["iteration"] + (0 if stop else 1)}


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


def _conclude(ctx: ResearchContext, state: ResearchState) -> ResearchState:
    iteration, idea, gate = state["iteration"], dict(state["idea"] or {}), state.get("gate") or {}
    run, candidate = state.get("last_run"), state.get("candidate") or {}
    verdict: dict[str, Any] = (state.get("verification") or {}).get("verdict") or {}
    base_value = state["baseline"]["value"]
    update: ResearchState = {}
    if gate.get("action") == "reject" and gate.get("kind") in ("idea", "code"):
        fate = "rejected"
        subject = {k: idea.get(k) for k in ("title", "hypothesis", "plan", "params")}
        update["rejections"] = [{"kind": gate["kind"], "idea": subject, "reason": gate.get("reason", ""),
                                 "iteration": iteration}]
    elif run is None:
        fate = "failed"
    elif verdict.get("verified"):
        accepted = not (gate.get("kind") == "finding" and gate.get("action") == "reject")
        update["findings"] = [_finding(ctx, state, verdict, gate, accepted)]
        fate = "verified" if accepted else "rejected"
        if accepted:
            update["best"] = {"experiment_id": run["experiment_id"], "value": run["value"], "metrics": run["metrics"],
                              "params": run["params"], "title": idea.get("title", ""), "files": candidate.get("files", {})}
    else:
        fate = outcome_fate(status=run["status"], metric_value=run.get("value"), baseline_value=base_value,
                            direction=ctx.task.metric.direction, verified=False)
    value = run.get("value") if run else None
    idea.update(iteration=iteration, fate=fate, value=value, verdict=verdict.get("reason", ""),
                reason=gate.get("reason", "") if fate == "rejected" else "")
    update["ideas"] = [idea]
    remember.idea(ctx, iteration, idea, fate=fate, attempt=int(idea.get("attempt", 0)), value=value,
                  reason=idea["reason"], verified=fate == "verified")
    if run is not None:
        remember.outcome(ctx, run, idea_item=idea, baseline_value=base_value, verified=fate == "verified")
    for made in state.get("decisions", []):
        if made["iteration"] == iteration:
            remember.decision(ctx, made, subject=idea)
    return update


def _finding(ctx: ResearchContext, state: ResearchState, verdict: dict[str, Any], gate: Json,
             accepted: bool) -> Json:
    run, idea = state["last_run"] or {}, state["idea"] or {}
    candidate = state.get("candidate") or {}
    summary = (gate.get("edit") or {}).get("summary") if gate.get("action") == "edit" else None
    return {
        "iteration": state["iteration"], "title": idea.get("title", ""), "hypothesis": idea.get("hypothesis", ""),
        "summary": summary or f"{idea.get('title', '')}: {verdict.get('reason', '')}",
        "experiment_id": run.get("experiment_id"), "value": run.get("value"), "params": run.get("params", {}),
        "mean_gain": verdict.get("mean_gain"), "stderr": verdict.get("stderr"), "n": verdict.get("n"),
        "pairs": (state.get("verification") or {}).get("pairs", {}), "rule": RULE, "diff": candidate.get("diff", ""),
        "accepted": accepted, "decided_by": gate.get("by", ""), "reason": gate.get("reason", ""),
        "artifacts": run.get("artifacts", []),
    }
