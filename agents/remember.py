"""The graph's side of memory: what ideate reads and what decide and review write.

Every function is a no-op when the job has no memory (``ctx.memory is None``). Records are
built by :mod:`agents.recall`'s builders, whose deterministic ids make a re-run node
overwrite its records instead of adding more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.context import ResearchContext
from agents.novelty import Novelty, check_novelty
from agents.recall import (
    Recall,
    feedback_record,
    idea_record,
    idea_text,
    outcome_record,
    recall_for_ideation,
)


def recall(ctx: ResearchContext, query: str) -> Recall | None:
    """What earlier jobs on this task learned (None without memory)."""
    if ctx.memory is None:
        return None
    return recall_for_ideation(
        ctx.memory, task=ctx.task.name, query=query, direction=ctx.task.metric.direction,
        exclude_job=ctx.job_id,
    )


def novelty(ctx: ResearchContext, idea: Mapping[str, Any]) -> Novelty | None:
    """The novelty check of an idea against tried and rejected ones (None without memory)."""
    if ctx.memory is None:
        return None
    text = idea_text(str(idea.get("title", "")), str(idea.get("hypothesis", "")), idea.get("params"))
    return check_novelty(ctx.memory, task=ctx.task.name, idea_text=text, params=idea.get("params") or None)


def idea(ctx: ResearchContext, iteration: int, item: Mapping[str, Any], *, fate: str, attempt: int = 0,
         reason: str = "", value: float | None = None, verified: bool = False, check: Novelty | None = None,
         node: str = "") -> None:
    """Store (or update the fate of) one idea (of tree node ``node``)."""
    if ctx.memory is None:
        return
    rid, text, meta = idea_record(
        job_id=ctx.job_id, task=ctx.task.name, iteration=iteration, title=str(item.get("title", "")),
        hypothesis=str(item.get("hypothesis", "")), params=item.get("params") or None, fate=fate,
        reason=reason, attempt=attempt, metric=ctx.task.metric.name, metric_value=value,
        verified=verified, novelty=check, node=node,
    )
    ctx.memory.add("ideas", rid, text, meta)


def outcome(ctx: ResearchContext, run: Mapping[str, Any], *, idea_item: Mapping[str, Any] | None,
            baseline_value: float | None, verified: bool = False) -> None:
    """Store one experiment's outcome (negative results too)."""
    if ctx.memory is None:
        return
    item = idea_item or {}
    rid, text, meta = outcome_record(
        job_id=ctx.job_id, task=ctx.task.name, iteration=int(run["iteration"]), metric=ctx.task.metric.name,
        metric_value=run.get("value"), params=run.get("params") or None,
        direction=ctx.task.metric.direction, status=str(run["status"]), verified=verified,
        title=str(item.get("title", "")), hypothesis=str(item.get("lesson") or item.get("hypothesis", "")),
        baseline_value=baseline_value, experiment_id=str(run["experiment_id"]), error=str(run.get("error") or ""),
        node=str(run.get("node") or ""),
    )
    ctx.memory.add("findings", rid, text, meta)


def decision(ctx: ResearchContext, made: Mapping[str, Any], *, subject: Mapping[str, Any]) -> None:
    """Store one human decision with its reason, embedded by what it was about."""
    if ctx.memory is None:
        return
    rid, text, meta = feedback_record(
        job_id=ctx.job_id, task=ctx.task.name, iteration=int(made["iteration"]),
        checkpoint_id=str(made["checkpoint_id"]), checkpoint_kind=made["kind"], action=made["action"],
        subject=idea_text(str(subject.get("title", "")), str(subject.get("hypothesis", "")), subject.get("params")),
        reason=str(made.get("reason", "")), decided_by=str(made.get("by", "")),
        params=subject.get("params") or None, metric=ctx.task.metric.name,
    )
    ctx.memory.add("feedback", rid, text, meta)
