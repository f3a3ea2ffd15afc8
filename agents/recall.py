"""What the graph writes to memory and what it reads back before ideating.

The record builders (:func:`outcome_record`, :func:`idea_record`, :func:`feedback_record`)
are the only way records are made, so every writer uses the same deterministic ids (a node
re-run after a crash overwrites its record instead of adding a second one) and the same
metadata keys on every record:

    job_id, task, iteration, metric, metric_value (when measured), params (JSON string),
    verified (bool), fate

plus kind-specific keys (title, status, reason, action, ...). Fates: ideas are ``proposed``,
``approved``, ``edited``, ``rejected``, ``duplicate``, then ``better_on_seed0`` / ``no_gain`` /
``failed`` / ``verified`` / ``not_verified`` once run; outcomes use the first four of these (an
outcome's ``better_on_seed0`` is against the baseline, on seed 0 only, not a tested claim); feedback records carry the
decision (``approved``, ``rejected``, ``edited``).

:func:`recall_for_ideation` gathers what earlier jobs on the task learned for the next idea.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agents.checkpoints import DecisionAction
from agents.protocols import Memory, MemoryRecord
from agents.state import GateKind

Record = tuple[str, str, dict[str, Any]]
Direction = Literal["maximize", "minimize"]
_FATE_OF_DECISION: dict[DecisionAction, str] = {"approve": "approved", "reject": "rejected", "edit": "edited"}


def params_json(params: Mapping[str, Any] | None) -> str:
    """Params as the canonical JSON string kept in metadata (sorted keys)."""
    return json.dumps(dict(params or {}), sort_keys=True, default=str)


def _params_text(params: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((params or {}).items()))


def idea_text(title: str, hypothesis: str = "", params: Mapping[str, Any] | None = None) -> str:
    """The text an idea is embedded by — the same for storing and for the novelty check."""
    parts = [part.strip().rstrip(".") for part in (title, hypothesis) if part.strip()]
    if params:
        parts.append(f"Params: {_params_text(params)}")
    return ". ".join(parts) + "." if parts else ""


def _base(
    *, job_id: str, task: str, iteration: int, metric: str, metric_value: float | None,
    params: Mapping[str, Any] | None, verified: bool, fate: str,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "job_id": job_id, "task": task, "iteration": int(iteration), "metric": metric,
        "params": params_json(params), "verified": bool(verified), "fate": fate,
    }
    if metric_value is not None:
        meta["metric_value"] = float(metric_value)
    return meta


def outcome_fate(
    *, status: str, metric_value: float | None, baseline_value: float | None,
    direction: Direction, verified: bool,
) -> str:
    """``verified``, ``failed``, ``better_on_seed0`` (than the baseline, untested) or ``no_gain`` for one
    experiment's outcome."""
    if verified:
        return "verified"
    if status != "succeeded" or metric_value is None:
        return "failed"
    if baseline_value is None:
        return "no_gain"
    gain = metric_value - baseline_value if direction == "maximize" else baseline_value - metric_value
    return "better_on_seed0" if gain > 0 else "no_gain"


def outcome_record(
    *,
    job_id: str,
    task: str,
    iteration: int,
    metric: str,
    metric_value: float | None,
    params: Mapping[str, Any] | None,
    direction: Direction = "maximize",
    status: str = "succeeded",
    verified: bool = False,
    title: str = "",
    hypothesis: str = "",
    baseline_value: float | None = None,
    experiment_id: str = "",
    error: str = "",
    node: str = "",
) -> Record:
    """One experiment's outcome for ``findings`` (negative results too), id ``finding:JOB:ITER``.

    Writing it again for the same job and iteration (e.g. once verified) overwrites it.
    """
    fate = outcome_fate(status=status, metric_value=metric_value, baseline_value=baseline_value,
                        direction=direction, verified=verified)
    text = idea_text(title or ("baseline" if iteration == 0 else f"iteration {iteration}"),
                     hypothesis, params)
    if metric_value is None:
        text += f" Outcome: {status}" + (f" ({error.strip()[:200]})" if error.strip() else "") + "."
    else:
        text += f" Outcome: {metric} = {metric_value:.6g}"
        if baseline_value is not None:
            text += f" (baseline {baseline_value:.6g}, {metric_value - baseline_value:+.4g})"
        text += "; verified finding." if verified else f"; {fate.replace('_', ' ')}."
    meta = _base(job_id=job_id, task=task, iteration=iteration, metric=metric,
                 metric_value=metric_value, params=params, verified=verified, fate=fate)
    meta.update(status=status, direction=direction, title=title, experiment_id=experiment_id)
    if baseline_value is not None:
        meta["baseline_value"] = float(baseline_value)
    if node:
        meta["node"] = node
    return f"finding:{job_id}:{iteration}" + (f":{node}" if node else ""), text, meta


def idea_record(
    *,
    job_id: str,
    task: str,
    iteration: int,
    title: str,
    hypothesis: str = "",
    params: Mapping[str, Any] | None = None,
    fate: str = "proposed",
    reason: str = "",
    attempt: int = 0,
    metric: str = "",
    metric_value: float | None = None,
    verified: bool = False,
    novelty: Any = None,
    node: str = "",
) -> Record:
    """One idea with its fate for ``ideas``, id ``idea:JOB:ITER:ATTEMPT``.

    ``attempt`` counts re-proposals within one iteration; update the fate (``rejected`` with
    its ``reason``, then ``better_on_seed0``/``no_gain``/...) by writing the same arguments again.
    ``novelty`` (an :class:`agents.novelty.Novelty`) keeps the check's neighbours with the idea.
    """
    meta = _base(job_id=job_id, task=task, iteration=iteration, metric=metric,
                 metric_value=metric_value, params=params, verified=verified, fate=fate)
    meta.update(title=title, attempt=int(attempt))
    if reason:
        meta["reason"] = reason
    if novelty is not None:
        meta["novelty_neighbours"] = json.dumps(
            [{"id": n.id, "distance": round(n.distance, 4), "fate": n.fate} for n in novelty.neighbours]
        )
        meta["novel"] = bool(novelty.novel)
    if node:
        meta["node"] = node
    rid = f"idea:{job_id}:{iteration}:{attempt}" + (f":{node}" if node else "")
    return rid, idea_text(title, hypothesis, params), meta


def feedback_record(
    *,
    job_id: str,
    task: str,
    iteration: int,
    checkpoint_id: str,
    checkpoint_kind: GateKind,
    action: DecisionAction,
    subject: str,
    reason: str = "",
    decided_by: str = "",
    params: Mapping[str, Any] | None = None,
    metric: str = "",
    metric_value: float | None = None,
) -> Record:
    """One human decision for ``feedback``, id ``feedback:CHECKPOINT``.

    ``subject`` is what was decided on — for an idea, its :func:`idea_text` — and is what
    the record is embedded by, so a similar idea later finds it; the reason is metadata.
    """
    fate = _FATE_OF_DECISION[action]
    meta = _base(job_id=job_id, task=task, iteration=iteration, metric=metric,
                 metric_value=metric_value, params=params, verified=False, fate=fate)
    meta.update(action=action, checkpoint_id=checkpoint_id, checkpoint_kind=checkpoint_kind,
                reason=reason, decided_by=decided_by)
    text = subject.strip() or f"{checkpoint_kind} checkpoint: {action}. {reason}".strip()
    return f"feedback:{checkpoint_id}", text, meta


def citation(record: MemoryRecord) -> str:
    """How a report cites a literature passage: ``source, p. N`` (PDF) or ``source, line N``."""
    source = str(record.metadata.get("source", "?"))
    if page := record.metadata.get("page"):
        return f"{source}, p. {page}"
    if line := record.metadata.get("line"):
        return f"{source}, line {line}"
    return source


def _value(record: MemoryRecord) -> float | None:
    value = record.metadata.get("metric_value")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Recall:
    """What earlier jobs on a task learned, ready for the next ideation."""

    task: str
    direction: Direction
    best: list[MemoryRecord] = field(default_factory=list)
    worst: list[MemoryRecord] = field(default_factory=list)
    verified: list[MemoryRecord] = field(default_factory=list)
    rejections: list[MemoryRecord] = field(default_factory=list)
    literature: list[MemoryRecord] = field(default_factory=list)
    prior_trials: list[tuple[dict[str, Any], float]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when memory had nothing for this task."""
        return not (self.best or self.worst or self.verified or self.rejections or self.literature)

    def citations(self) -> list[str]:
        """The literature passages as the report cites them."""
        return [citation(r) for r in self.literature]

    def as_prompt_text(self) -> str:
        """The recall as a prompt section (plain text, one line per record)."""
        if self.empty:
            return f"Memory: nothing is known yet about task {self.task!r} from earlier jobs."
        lines = [f"Memory of earlier jobs on task {self.task!r} (goal: {self.direction} the metric):"]

        def section(title: str, records: Sequence[MemoryRecord], extra: str = "") -> None:
            if records:
                lines.append(f"{title}{extra}:")
                for r in records:
                    note = ""
                    if r.metadata.get("reason"):
                        note = f" — reason: {r.metadata['reason']}"
                    where = f"job {r.metadata.get('job_id', '?')}, iteration {r.metadata.get('iteration', '?')}"
                    lines.append(f"- ({where}) {r.text}{note}")

        section("Best outcomes", self.best)
        section("Worst outcomes", self.worst, " (avoid repeating these)")
        section("Verified findings", self.verified)
        section("Rejected by a human", self.rejections, " (do not propose these again; respect the reasons)")
        if self.literature:
            lines.append("Literature (cite as [source, p. N]):")
            for r in self.literature:
                passage = " ".join(r.text.split())
                lines.append(f"- [{citation(r)}] {passage[:400]}")
        return "\n".join(lines)


def recall_for_ideation(
    memory: Memory,
    *,
    task: str,
    query: str,
    direction: Direction,
    exclude_job: str | None = None,
    k: int = 3,
    literature_k: int = 3,
) -> Recall:
    """Best/worst outcomes, verified findings, rejections and passages for the next idea.

    ``query`` is the task goal (plus the current idea, if any) and ranks the rejections and
    the literature; ``exclude_job`` leaves out the running job's own records so the recall
    is about *earlier* jobs. ``Recall.prior_trials`` holds every earlier measured
    (params, metric value) pair for the search strategy's warm start.
    """
    outcomes = [
        r for r in memory.records("findings", where={"task": task}, limit=5000)
        if r.metadata.get("job_id") != exclude_job
    ]
    scored = [r for r in outcomes if _value(r) is not None and r.metadata.get("fate") != "failed"]
    scored.sort(key=lambda r: _value(r) or 0.0, reverse=direction == "maximize")
    best = scored[:k]
    worst = [r for r in reversed(scored) if r not in best][:k]
    verified = [r for r in scored if r.metadata.get("verified")][:k]
    where_rejected: dict[str, Any] = {"task": task, "fate": "rejected"}
    rejections = [
        r for r in memory.nearest("feedback", query, k=2 * k, where=where_rejected)
        if r.metadata.get("job_id") != exclude_job
    ]
    seen = {r.text for r in rejections}
    for idea in memory.nearest("ideas", query, k=2 * k, where=where_rejected):
        if idea.text not in seen and idea.metadata.get("job_id") != exclude_job:
            rejections.append(idea)
    literature = (
        list(memory.nearest("literature", query, k=literature_k, where={"task": {"$in": [task, ""]}}))
        if query.strip() else []
    )  # passages added for this task or for every task ("")
    trials: list[tuple[dict[str, Any], float]] = []
    for r in scored:
        try:
            params = json.loads(str(r.metadata.get("params") or "{}"))
        except json.JSONDecodeError:
            continue
        value = _value(r)
        if isinstance(params, dict) and params and value is not None:
            trials.append((params, value))
    return Recall(task=task, direction=direction, best=best, worst=worst, verified=verified,
                  rejections=rejections[: 2 * k], literature=literature, prior_trials=trials)
