"""``ideate``: the strategy proposes an idea; memory checks it is new (re-proposing, bounded)."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents import remember
from agents.context import ResearchContext
from agents.errors import BudgetExhausted
from agents.flags import idea_flags
from agents.llm_steps import meter_for, propose_idea, spent
from agents.nodes.gates import request
from agents.search import propose
from agents.state import Json, ResearchState

REPROPOSALS = 3  # an idea too close to one tried or rejected is re-proposed at most this often


def _trials(state: ResearchState) -> list[tuple[dict[str, Any], float]]:
    return [(e["params"], e["value"]) for e in state.get("experiments", [])
            if e["role"] in ("candidate", "debug") and e["value"] is not None and e["params"]]


def _search_idea(ctx: ResearchContext, state: ResearchState, prior: list[tuple[dict[str, Any], float]],
                 attempt: int) -> Json:
    avoid = [r["idea"].get("params") or {} for r in state.get("rejections", [])]
    avoid += [p for p, _ in _trials(state)]
    return propose(ctx.task, job_id=ctx.job_id, iteration=state["iteration"], own=_trials(state),
                   prior=prior, avoid=avoid, attempt=attempt)


def ideate(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Propose the iteration's idea; keep the novelty check's neighbours with it."""
    ctx = runtime.context
    iteration = state["iteration"]
    if ctx.strategy == "search" and not ctx.task.params:
        return {"idea": None, "stop_reason": "the task has no params space, so the search strategy has nothing "
                                              "to try; add params to task.yaml or configure an LLM"}
    recalled = remember.recall(ctx, ctx.task.goal)
    meter = meter_for(ctx, state)
    retry_note = ""
    idea: Json = {}
    try:
        for attempt in range(REPROPOSALS + 1):
            if ctx.strategy == "search":
                idea = _search_idea(ctx, state, recalled.prior_trials if recalled else [], attempt)
            else:
                idea = propose_idea(ctx, meter, state, retry_note=retry_note,
                                    recall_text=recalled.as_prompt_text() if recalled else "")
            check = remember.novelty(ctx, idea)
            idea["neighbours"] = [n._asdict() for n in check.neighbours] if check else []
            idea["novelty"] = check.reason if check else "no memory"
            novel = check is None or check.novel or attempt == REPROPOSALS
            remember.idea(ctx, iteration, idea, fate="proposed" if novel else "duplicate",
                          attempt=attempt, check=check)
            if novel:
                idea["attempt"] = attempt
                break
            assert check is not None
            retry_note = check.as_prompt_text()
    except BudgetExhausted as exc:
        return {"idea": None, "stop_reason": str(exc), **spent(ctx, meter, "ideate")}
    if recalled is not None:
        idea["citations"] = recalled.citations()
    ctx.journal.emit(ctx.job_id, "idea", {"iteration": iteration, "title": idea["title"]})
    flagged = idea_flags(idea, state.get("rejections", []), idea["neighbours"])
    return {"idea": idea, "candidate": None, "last_run": None, "verification": None, "gate": None,
            "checkpoint": request(ctx, "idea", flagged),
            **spent(ctx, meter, "ideate")}
