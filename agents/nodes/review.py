"""``review``: compare the run with the best so far; a candidate that beats it goes to verify."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.context import ResearchContext
from agents.errors import BudgetExhausted
from agents.llm_steps import meter_for, review_outcome, spent
from agents.state import Json, ResearchState
from agents.verify import replicate_seeds


def review(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Read the outcome (and, with a model, what it teaches); start verification if it may be a gain."""
    ctx = runtime.context
    run, idea, best = state["last_run"] or {}, dict(state["idea"] or {}), state["best"]
    update: ResearchState = {}
    if ctx.strategy == "llm" and ctx.model is not None:
        meter = meter_for(ctx, state)
        try:
            reading = review_outcome(ctx, meter, idea, run, state)
            idea.update(summary=reading.summary, lesson=reading.lesson)
        except BudgetExhausted as exc:
            update["stop_reason"] = str(exc)
        update.update(spent(ctx, meter, "review"))
    candidate = run.get("value") is not None and ctx.task.metric.better(run["value"], best["value"])
    verification: Json | None = {"seeds": replicate_seeds(ctx.task.replicates), "pairs": {}, "verdict": None} if candidate else None
    return {**update, "idea": idea, "verification": verification}
