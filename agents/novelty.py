"""The novelty check ``ideate`` runs before an idea goes on.

An idea is *not novel* when it is closer than a threshold (cosine distance) to an idea
already tried in this task, or to one a human rejected (in any task). Its neighbours and
distances are returned so the graph can keep them with the idea, name them in the
re-proposal prompt, and show them in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from agents.protocols import Memory, MemoryRecord
from agents.recall import params_json

DEFAULT_NOVELTY_THRESHOLD = 0.4
"""A :class:`Novelty`'s threshold when none is given (a memory states its own: ``memory.novelty_threshold``)."""


class Neighbour(NamedTuple):
    """A stored idea (or rejection) near the checked one."""

    id: str
    text: str
    distance: float
    fate: str


@dataclass(frozen=True)
class Novelty:
    """The verdict of :func:`check_novelty`."""

    novel: bool
    neighbours: list[Neighbour]
    reason: str
    threshold: float = DEFAULT_NOVELTY_THRESHOLD
    too_close: list[Neighbour] = field(default_factory=list)
    """The neighbours that make the idea not novel (empty when it is novel)."""
    reasons: dict[str, str] = field(default_factory=dict)
    """Human rejection reasons of the neighbours that have one, by neighbour id."""

    def as_prompt_text(self) -> str:
        """What to tell the model when asking it to propose something else."""
        if self.novel:
            return ""
        lines = ["Your idea repeats earlier ones; propose something clearly different from:"]
        for n in self.too_close:
            why = f" (rejected by a human: {self.reasons[n.id]})" if n.id in self.reasons else f" ({n.fate})"
            lines.append(f"- {n.text}{why}")
        return "\n".join(lines)


def _short(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _same_params(record: MemoryRecord, params: Mapping[str, Any] | None) -> bool:
    stored = record.metadata.get("params")
    if params is None or not stored or stored == "{}":
        return True  # nothing to tell them apart by
    return str(stored) == params_json(params)


def check_novelty(
    memory: Memory,
    *,
    task: str,
    idea_text: str,
    threshold: float | None = None,
    params: Mapping[str, Any] | None = None,
    k: int = 5,
) -> Novelty:
    """Is ``idea_text`` new for ``task``? Compare with tried and rejected ideas in memory.

    ``idea_text`` should be :func:`agents.recall.idea_text` of the idea (the text ideas are
    stored by). ``threshold`` is a cosine distance; None takes ``memory.novelty_threshold``
    (each embedder knows its own scale). When
    ``params`` is given, a tried idea with *different* recorded params is not a repeat
    (same plan, new point of the search space); a rejected one still is.
    Returns :class:`Novelty` with ``novel``, ``neighbours`` (id, text, distance, fate),
    ``reason`` naming the close ones (and a rejected one's reason) and ``reasons``.

    It makes two queries of ``ideas`` (this task's; rejected ones), each of which the
    Chroma memory answers from a small index collection (the latency target of docs/design.md is
    for this call). A human rejection is found through the idea's own record, whose fate
    becomes ``rejected`` with the reason (``idea_record(fate="rejected", reason=...)``, as
    ``decide`` writes it).
    """
    limit = threshold if threshold is not None else memory.novelty_threshold
    found: dict[str, MemoryRecord] = {}
    for where in ({"task": task}, {"fate": "rejected"}):
        for record in memory.nearest("ideas", idea_text, k=k, where=where):
            found[record.id] = record
    # The same idea re-proposed in several attempts shares its text: keep one, a rejection first.
    by_text: dict[str, MemoryRecord] = {}
    for record in sorted(found.values(), key=lambda r: r.metadata.get("fate") != "rejected"):
        by_text.setdefault(record.text, record)
    ranked = sorted(by_text.values(), key=lambda r: r.distance if r.distance is not None else 2.0)
    neighbours = [
        Neighbour(r.id, r.text, float(r.distance if r.distance is not None else 2.0), str(r.metadata.get("fate", "")))
        for r in ranked[:k]
    ]
    reasons = {r.id: str(r.metadata["reason"]) for r in ranked[:k] if r.metadata.get("reason")}
    blocking: list[Neighbour] = []
    for record, n in zip(ranked[:k], neighbours, strict=True):
        if n.distance >= limit:
            continue
        if n.fate == "rejected" or _same_params(record, params):
            blocking.append(n)
    if blocking:
        parts = []
        for n in blocking:
            rec = found[n.id]
            if n.fate == "rejected":
                why = reasons.get(n.id, "no reason given")
                parts.append(f"'{_short(n.text)}' (rejected by a human: {why}; distance {n.distance:.3f})")
            else:
                parts.append(
                    f"'{_short(n.text)}' (tried in job {rec.metadata.get('job_id', '?')}, iteration "
                    f"{rec.metadata.get('iteration', '?')}, {n.fate}; distance {n.distance:.3f})"
                )
        reason = f"not novel: closer than {limit:.2f} to " + "; ".join(parts)
    elif neighbours:
        reason = (f"novel: the closest is '{_short(neighbours[0].text)}' at distance "
                  f"{neighbours[0].distance:.3f} (threshold {limit:.2f})")
    else:
        reason = "novel: nothing similar in memory"
    return Novelty(novel=not blocking, neighbours=neighbours, reason=reason, threshold=float(limit),
                   too_close=blocking, reasons=reasons)
