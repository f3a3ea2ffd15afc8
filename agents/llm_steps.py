"""Strategy ``llm``: the steps that ask the model, each a named prompt and a pydantic reply.

Every prompt carries a :class:`~agents.briefing.Briefing` (the task's files by kind, the chosen
node's output and metrics, the tree, this job's lessons, human rejections and history, memory
recall), and its system message the job's facts (:mod:`agents.prompt_facts`). Each step's reply
is limited to its own ``max_tokens`` (:class:`~agents.context.ModelLimits`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from pydantic import BaseModel, Field

from agents.briefing import CHARS_PER_TOKEN, Briefing, allowance, clip, diff_from_parent, edit_text
from agents.context import ModelLimits, ResearchContext
from agents.edits import CodeChange, apply_change, traceback_sources
from agents.errors import ConfigError
from agents.llm import ModelT, TokenMeter, ask_json
from agents.prompt_facts import environment_text
from agents.prompts import messages as render_messages
from agents.protocols import ChatModel
from agents.state import BranchState, Critique, Decision, Json, Node, Verdict
from agents.template import system_text
from agents.workspace_paths import check_layout

OPERATOR_NOTES = {
    "draft": "a new approach from the root (the task as given); do not repeat an approach the tree already has.",
    "improve": "one change that builds on this node's code, keeping what it already does well.",
}


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


class CritiqueReply(BaseModel):
    """The model's critique of a verified finding."""

    soundness: str = ""
    confounds: list[str] = Field(default_factory=list)
    ablation: str = ""
    flaw: str = ""


def meter_for(ctx: ResearchContext, used: int, cost_usd: float = 0.0, *, step: str) -> TokenMeter:
    """A token meter of ``step`` that continues from ``used`` tokens (the job's, as the step sees them)."""
    return TokenMeter(budget=ctx.task.budget.llm_tokens, used=used, cost_usd=cost_usd,
                      price_per_1k_tokens=ctx.price_per_1k_tokens, reply_allowance=ctx.limits.reply_tokens(step))


def used_tokens(state: BranchState) -> int:
    """The job's tokens as a branch sees them: the round's start plus the branch's own spending."""
    return state["tokens_before"] + state.get("tokens", 0)


class Spending(TypedDict):
    """A step's LLM spending as a state update (deltas)."""

    tokens: int
    cost_usd: float


def spent(ctx: ResearchContext, meter: TokenMeter, step: str, *, before: int, cost_before: float = 0.0) -> Spending:
    """The state update of a step's LLM spending (deltas: parallel branches add theirs up).

    The ``llm`` event reports the job's totals from the context's shared tally, not the meter's
    (a branch's meter sees only the round's start plus its own), so they never go backwards."""
    update = Spending(tokens=meter.used - before, cost_usd=meter.cost_usd - cost_before)
    if meter.calls:
        ctx.spending.add(seen_tokens=before, tokens=update["tokens"], seen_cost_usd=cost_before,
                         cost_usd=update["cost_usd"], announce=lambda tokens, cost: ctx.journal.emit(
                             ctx.job_id, "llm", {"step": step, "calls": meter.calls, "job_tokens": tokens,
                                                 "job_cost_usd": round(cost, 6)}))
    return update


def _model(ctx: ResearchContext) -> ChatModel:
    if ctx.model is None:
        raise ConfigError("strategy llm needs a model: set LABLOOP_LLM_BASE_URL (and LABLOOP_LLM_MODEL)")
    return ctx.model


def messages(ctx: ResearchContext, step: str, *, template: str | None = None, **values: object) -> list[dict[str, str]]:
    """The chat messages of ``step``: the system message with the task's instructions and the job's
    facts, and the step's template (or ``template``, a variant of it) rendered with ``values``."""
    return render_messages(step, instructions=system_text(ctx.task_dir), environment=environment_text(ctx),
                           template=template, **values)


def _ask(ctx: ResearchContext, meter: TokenMeter, step: str, msgs: list[dict[str, str]], schema: type[ModelT],
         check: Callable[[ModelT], object] | None = None) -> ModelT:
    return ask_json(_model(ctx), meter, msgs, schema, check=check, max_tokens=ctx.limits.reply_tokens(step),
                    limit_setting=ModelLimits.setting(step))


def propose_idea(ctx: ResearchContext, meter: TokenMeter, briefing: Briefing, *, operator: str, parent: str,
                 baseline: float | None, best: float | None, retry_note: str = "") -> Json:
    """Ask the model for the idea of a ``draft`` or ``improve`` of node ``parent``."""
    task = ctx.task
    space = {name: p.model_dump(exclude_none=True, exclude_defaults=True) for name, p in task.params.items()}
    msgs = messages(
        ctx, "ideate", goal=task.goal, metric=task.metric.name,
        direction=task.metric.direction, baseline=baseline, best=best,
        space=json.dumps(space) if space else "(none: change the code)", operator=operator,
        parent=parent, operator_note=OPERATOR_NOTES.get(operator, ""),
        retry_note=f"\n{retry_note}\n" if retry_note else "", **briefing.values(),
    )
    idea = _ask(ctx, meter, "ideate", msgs, Idea)
    return {**idea.model_dump(), "source": "llm"}


def write_code(ctx: ResearchContext, meter: TokenMeter, idea: Mapping[str, Any], briefing: Briefing, *,
               parent: str, originals: Mapping[str, str], changed: Mapping[str, str],
               params: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any], str]:
    """Ask the model to implement ``idea`` on top of the parent's ``changed`` files; return (files, params, why)."""
    msgs = messages(ctx, "implement", title=idea["title"], hypothesis=idea.get("hypothesis", ""),
                    plan=idea.get("plan", ""), params=json.dumps(idea.get("params") or {}), parent=parent,
                    code=briefing.code, metrics=briefing.metrics, output=briefing.output, lessons=briefing.lessons,
                    history=briefing.history)
    return _change(ctx, meter, "implement", msgs, originals, changed, params)


def repair_code(ctx: ResearchContext, meter: TokenMeter, failed: Node, briefing: Briefing, *,
                originals: Mapping[str, str], max_depth: int) -> tuple[dict[str, str], dict[str, Any], str]:
    """Ask the model to fix a failed node, showing the traceback and the lines it points at."""
    current = {**originals, **failed["files"]}
    stderr = failed["output_tail"]
    msgs = messages(
        ctx, "debug", attempt=failed["debug_depth"] + 1, max_attempts=max_depth,
        parent=failed["id"],
        title=failed["idea"]["title"], plan=failed["idea"]["plan"], error=failed["error"] or "failed",
        traceback=stderr or "(no output)", sources=traceback_sources(stderr, current) or "(none found)",
        code=briefing.code, lessons=briefing.lessons, history=briefing.history,
    )
    return _change(ctx, meter, "debug", msgs, originals, failed["files"], failed["params"])


def _change(ctx: ResearchContext, meter: TokenMeter, step: str, msgs: list[dict[str, str]],
            originals: Mapping[str, str], changed: Mapping[str, str],
            params: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any], str]:
    change = _ask(ctx, meter, step, msgs, CodeChange,
                  check=lambda c: check_layout(apply_change(originals, changed, c), ctx.task_dir))
    files = apply_change(originals, changed, change)
    new_params = {**params, **change.params} if change.params is not None else dict(params)
    return files, new_params, change.explanation


def review_outcome(ctx: ResearchContext, meter: TokenMeter, idea: Mapping[str, Any], run: Mapping[str, Any],
                   briefing: Briefing, *, baseline: float | None, best: float | None, diff: str,
                   edits: list[Decision]) -> Review:
    """Ask the model what an outcome teaches, showing the change (from the parent) and a human's edits of it."""
    outcome = (f"{run['status']}, {ctx.task.metric.name} = {run.get('value')}"
               + (f", error: {run['error']}" if run.get("error") else ""))
    edited = "\n".join(f"- a human ({d['by']}) edited the {d['kind']} at its gate: {edit_text(d['edit'])}"
                       + (f" — {d['reason']}" if d["reason"] else "") for d in edits) or "- none"
    msgs = messages(ctx, "review", title=idea.get("title", ""), hypothesis=idea.get("hypothesis", ""),
                    outcome=outcome, metric=ctx.task.metric.name, baseline=baseline, best=best,
                    tree=briefing.tree, lessons=briefing.lessons, output=briefing.output, edits=edited,
                    diff=clip(diff, _diff_chars(ctx, "review"), what="diff"))
    return _ask(ctx, meter, "review", msgs, Review)


def _diff_chars(ctx: ResearchContext, step: str) -> int:
    return allowance(ctx.limits, step) * CHARS_PER_TOKEN // 3


def critique_finding(ctx: ResearchContext, meter: TokenMeter, node: Node, verdict: Verdict, *,
                     rule: str, parent: Node | None) -> Critique:
    """Ask the model for a structured critique of a verified finding; a named flaw flags it."""
    # Pairs are numbered, never labelled by seed: the verification seeds stay hidden from the model.
    evidence = (f"{verdict['reason']} against node {verdict['against']}; pairs (incumbent → candidate) "
                + ", ".join(f"#{i}: {p.get('incumbent')} → {p.get('candidate')}"
                            for i, p in enumerate(verdict["pairs"].values(), 1))
                + (f"\nWARNING, graded task: {node['grader_gap']}" if node.get("grader_gap") else ""))
    from_parent = diff_from_parent(ctx, parent, node["files"], node["params"])
    msgs = messages(ctx, "critique", goal=ctx.task.goal, title=node["idea"]["title"],
                    hypothesis=node["idea"]["hypothesis"], evidence=evidence, rule=rule,
                    parent=node["parent"] or "root",
                    parent_diff=clip(from_parent, _diff_chars(ctx, "critique"), what="diff from the parent"),
                    diff=clip(node["diff"] or "(no change)", _diff_chars(ctx, "critique"), what="diff"))
    reply = _ask(ctx, meter, "critique", msgs, CritiqueReply)
    flaw = reply.flaw.strip()
    return Critique(soundness=reply.soundness, confounds=list(reply.confounds), ablation=reply.ablation,
                    flaw=flaw, flagged=bool(flaw))
