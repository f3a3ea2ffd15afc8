"""What one drive of a job ends in: :class:`Paused` at a human checkpoint, or :class:`Finished`.

The driver (:mod:`services.driver`) returns one of these and writes nothing; the lifecycle
(:mod:`services.lifecycle`) records it. A pause has one shape from the graph's interrupt to
the API: :class:`Checkpoint`, built by :meth:`Checkpoint.from_interrupt` and stored as a
``CheckpointRow``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from agents.checkpoints import Payload, read_payload
from agents.context import GateKind

Ending = Literal["succeeded", "failed", "cancelled"]


@dataclass(frozen=True)
class Checkpoint:
    """A gate waiting for a human: what to decide on and why it was escalated.

    ``payload`` is the JSON the gate stored (see :mod:`agents.checkpoints`); :attr:`typed_payload` reads it typed.
    """

    id: str
    job_id: str
    kind: GateKind
    payload: dict[str, Any]
    flagged: list[str]

    @classmethod
    def from_interrupt(cls, job_id: str, value: Mapping[str, Any]) -> Checkpoint:
        """The checkpoint a gate's ``interrupt({"kind", "checkpoint_id", "payload", "flagged"})`` asks.

        The payload is read through the contract, so one asked by older code (without the newer
        fields) comes out in today's shape, its missing fields at their defaults.
        """
        kind = value["kind"]
        return cls(id=str(value["checkpoint_id"]), job_id=job_id, kind=kind,
                   payload=read_payload(kind, value.get("payload")).model_dump(mode="json"),
                   flagged=[str(f) for f in value.get("flagged") or []])

    @property
    def typed_payload(self) -> Payload:
        """The payload, typed by the checkpoint's kind."""
        return read_payload(self.kind, self.payload)


@dataclass(frozen=True)
class Paused:
    """The graph stopped at human checkpoints (parallel branches may wait at several at once)."""

    checkpoints: tuple[Checkpoint, ...]
    status: ClassVar[Literal["waiting"]] = "waiting"

    def __post_init__(self) -> None:
        if not self.checkpoints:
            raise ValueError("a pause needs at least one checkpoint")

    @property
    def checkpoint(self) -> Checkpoint:
        """The first checkpoint the job waits at."""
        return self.checkpoints[0]

    @property
    def job_id(self) -> str:
        """The paused job."""
        return self.checkpoint.job_id

    @property
    def summary(self) -> dict[str, Any]:
        """Nothing yet: a job has a summary once it finished."""
        return {}

    @property
    def error(self) -> None:
        """A paused job has not failed."""
        return None


@dataclass(frozen=True)
class Finished:
    """The graph reached its end, failed, or ended cancelled; ``summary`` is the job's summary."""

    job_id: str
    status: Ending
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    checkpoint: ClassVar[None] = None

    @classmethod
    def failure(cls, job_id: str, error: str) -> Finished:
        """A failed end, with the summary every failed job carries."""
        return cls(job_id, "failed", {"job_id": job_id, "status": "failed", "error": error}, error)


Outcome = Paused | Finished
