"""The words of a job's life: its statuses, its checkpoints' statuses, and which moves are legal.

(The decision vocabulary a human answers a checkpoint with is the checkpoint contract's:
:mod:`agents.checkpoints`.)

Defined once, here, in a module that imports nothing of labloop, so the store, the lifecycle,
the API's schemas and the CLI all share them without an import cycle. Only
:mod:`services.lifecycle` moves a job or a checkpoint, and it asks these tables first; the
tests read the same tables.

    queued ──► running ◄──► waiting           a decision or a restart resumes a waiting job
       │          │            │
       └──────────┴────────────┴──► succeeded | failed | cancelled      (never left again)

``running → running`` and ``waiting → waiting`` are legal: a job resumed after a crash, or
a waiting job looked at again after a restart, is recorded again without harm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

JobStatus = Literal["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
CheckpointStatus = Literal["pending", "decided", "cancelled"]

JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
CHECKPOINT_STATUSES: tuple[CheckpointStatus, ...] = get_args(CheckpointStatus)

INITIAL: JobStatus = JOB_STATUSES[0]
FINISHED: frozenset[JobStatus] = frozenset(JOB_STATUSES[3:])
"""Statuses a job never leaves: succeeded, failed, cancelled."""

JOB_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "queued": frozenset({"running", "waiting", "failed", "cancelled"}),
    "running": frozenset({"running", "waiting", "succeeded", "failed", "cancelled"}),
    "waiting": frozenset({"running", "waiting", "failed", "cancelled"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}
"""Where a job in each status may go next. Only a running graph can succeed; any unfinished
job can fail (its worker gave up) or be cancelled; a queued job found paused at a checkpoint
(its process died between the interrupt and its row) goes straight to waiting."""

CHECKPOINT_TRANSITIONS: Mapping[str, frozenset[str]] = {
    "pending": frozenset({"decided", "cancelled"}),
    "decided": frozenset(),
    "cancelled": frozenset(),
}
"""A checkpoint is decided once, or closed unanswered when its job finishes."""


def job_move_is_legal(current: str, new: str) -> bool:
    """True when a job in ``current`` may be moved to ``new``."""
    return new in JOB_TRANSITIONS.get(current, frozenset())


def checkpoint_move_is_legal(current: str, new: str) -> bool:
    """True when a checkpoint in ``current`` may be moved to ``new``."""
    return new in CHECKPOINT_TRANSITIONS.get(current, frozenset())
