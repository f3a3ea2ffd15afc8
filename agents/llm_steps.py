"""Strategy ``llm``: the steps that ask the model, each a named prompt and a pydantic reply."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from agents.context import ResearchContext
from agents.edits import CodeChange, apply_change, traceback_sources
from agents.errors import ConfigError
from agents.llm import TokenMeter, ask_json
from agents.prompts import messages
from agents.protocols import ChatModel
from agents.state import Json, ResearchState


class Idea(BaseModel):
    """An idea as the model proposes it."""

    title: str = Field(min_length=1)
    hypothesis: str = ""
    plan: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class Review(BaseModel):
    """The model's reading of an outcome."""

    summary: str = ""
    lesson: str = ""


def meter_for(ctx: ResearchContext, state: ResearchState) -> TokenMeter:
    """The job's token meter, continuing from what the state says was used."""
    return TokenMeter(budget=ctx.task.budget.llm_tokens, used=state.get("tokens", 0),
                      cost_usd=state.get("cost_usd", 0.0), price_per_1k_tokens=ctx.price_per_1k_tokens,
                      reply_allowance=int(getattr(ctx.model, "max_tokens", 512)))


def spent(ctx: ResearchContext, meter: TokenMeter, step: str) -> ResearchState:
    """The state update of a step's LLM spending; journals it when the step made calls."""
    if meter.calls:
        ctx.journal.emit(ctx.job_id, "llm", {"step": step, "calls": meter.calls, "job_tokens": meter.used,
                                             "job_cost_usd": round(meter.cost_usd, 6)})
    return {"tokens": meter.used, "cost_usd": meter.cost_usd}


def _model(ctx: ResearchContext) -> ChatModel:
    if ctx.model is None:
        raise ConfigError("strategy llm needs a model: set LABLOOP_LLM_BASE_URL (and LABLOOP_LLM_MODEL)")
    return ctx.model


def _files_text(files: Mapping[str, str]) -> str:
    return "\n\n".join(f"--- {rel} ---\n{text}" for rel, text in sorted(files.items()))


def _history(state: ResearchState) -> str:
    rows = [
        f"- {e['iteration']}: {json.dumps(e['params'], sort_keys=True)} {e['status']} {e.get('value')}"
        + (f" ({e['error']})" if e.get("error") else "") + (f" [{e['idea_title']}]" if e.get("idea_title") else "")
        for e in state.get("experiments", []) if e["role"] in ("baseline", "candidate", "debug")
    ]
    return "\n".join(rows) or "- none yet"


def rejection_text(state: ResearchState) -> str:
    """The human rejections of this job, one line each with the reason."""
    rows = [f"- {r['idea'].get('title', '?')} ({r['kind']} rejected): {r['reason']}" for r in state.get("rejections", [])]
    return "\n".join(rows) or "- none"


def propose_idea(ctx: ResearchContext, meter: TokenMeter, state: ResearchState, *, recall_text: str,
                 retry_note: str = "") -> Json:
    """Ask the model for the next idea."""
    task = ctx.task
    space = {name: p.model_dump(exclude_none=True, exclude_defaults=True) for name, p in task.params.items()}
    msgs = messages(
        "ideate", goal=task.goal, metric=task.metric.name, direction=task.metric.direction,
        baseline=state.get("baseline", {}).get("value"), best=state.get("best", {}).get("value"),
        space=json.dumps(space) if space else "(none: change the code)", history=_history(state),
        rejections=rejection_text(state), recall=recall_text or "(no memory)",
        retry_note=f"\n{retry_note}\n" if retry_note else "",
    )
    idea = ask_json(_model(ctx), meter, msgs, Idea)
    return {**idea.model_dump(), "source": "llm"}


def write_code(ctx: ResearchContext, meter: TokenMeter, idea: Mapping[str, Any],
               originals: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Any], str]:
    """Ask the model to implement ``idea``; return (changed files, params, explanation)."""
    msgs = messages("implement", title=idea["title"], hypothesis=idea.get("hypothesis", ""),
                    plan=idea.get("plan", ""), params=json.dumps(idea.get("params") or {}),
                    files=_files_text(originals))
    return _change(ctx, meter, msgs, originals, {}, idea.get("params") or {})


def repair_code(ctx: ResearchContext, meter: TokenMeter, idea: Mapping[str, Any], candidate: Mapping[str, Any],
                run: Mapping[str, Any], originals: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Any], str]:
    """Ask the model to fix a failed run, showing the traceback and the lines it points at."""
    current = {**originals, **candidate["files"]}
    stderr = str(run.get("stderr_tail") or "")
    msgs = messages(
        "debug", attempt=int(candidate["attempt"]) + 1, max_attempts=ctx.task.budget.debug_attempts,
        title=idea["title"], plan=idea.get("plan", ""), error=run.get("error") or run["status"],
        traceback=stderr or "(no output)", sources=traceback_sources(stderr, current) or "(none found)",
        files=_files_text(current),
    )
    return _change(ctx, meter, msgs, originals, candidate["files"], candidate.get("params") or {})


def _change(ctx: ResearchContext, meter: TokenMeter, msgs: list[dict[str, str]], originals: Mapping[str, str],
            changed: Mapping[str, str], params: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any], str]:
    change = ask_json(_model(ctx), meter, msgs, CodeChange, check=lambda c: apply_change(originals, changed, c))
    files = apply_change(originals, changed, change)
    return files, dict(change.params if change.params is not None else params), change.explanation


def review_outcome(ctx: ResearchContext, meter: TokenMeter, idea: Mapping[str, Any], run: Mapping[str, Any],
                   state: ResearchState) -> Review:
    """Ask the model what an outcome teaches."""
    outcome = (f"{run['status']}, {ctx.task.metric.name} = {run.get('value')}"
               + (f", error: {run['error']}" if run.get("error") else ""))
    msgs = messages("review", title=idea.get("title", ""), hypothesis=idea.get("hypothesis", ""),
                    outcome=outcome, metric=ctx.task.metric.name,
                    baseline=state.get("baseline", {}).get("value"), best=state.get("best", {}).get("value"))
    return ask_json(_model(ctx), meter, msgs, Review)
