"""Running one job in this process until it ends or waits, a handler answering its checkpoints.

The CLI's ``run``/``resume``/``demo`` (a human at the terminal, or ``--auto-approve``) and the
graph tests use it. It is the run manager's loop without the scheduling:

    lifecycle.start ─► driver.drive ─┬─ Finished ─► lifecycle.finish ─► returned
                                     └─ Paused ─► lifecycle.pause ─► on_checkpoint(checkpoint)
                                          ├─ a decision ─► lifecycle.decide ─► start, drive again
                                          └─ None ─► returned: the job waits (a later run resumes it)

A job cancelled while it waits is let go with a rejection by ``system:cancel``, so it ends
through decide and report like any cancelled job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from agents.checkpoints import Decided, parse_decided
from agents.protocols import Journal
from services.collaborators import Collaborators
from services.driver import OnProgress, Progress, ResearchDriver
from services.errors import Conflict
from services.lifecycle import Lifecycle
from services.outcomes import Checkpoint, Finished, Paused
from services.settings import Settings
from services.statuses import FINISHED
from services.store import SqlJournal, Store, get_job
from services.store.models import JobRow

CANCELLED_DECISION = Decided(action="reject", reason="the job was cancelled", by="system:cancel")

OnCheckpoint = Callable[[Checkpoint], Decided | Mapping[str, Any] | None]


def run_job_here(
    store: Store, settings: Settings, job_id: str, parts: Collaborators, *,
    on_checkpoint: OnCheckpoint | None = None, on_progress: OnProgress | None = None,
    journal: Journal | None = None,
) -> Paused | Finished:
    """Run job ``job_id`` from wherever it is (new, crashed, or waiting) until it ends or waits.

    ``on_checkpoint`` answers a checkpoint with a :class:`~agents.checkpoints.Decided` (or its
    fields ``{"action", "reason", "edit", "by"}``), or None to leave the job waiting. A bug in the graph fails the job and goes up as it is.
    """
    journal = journal or SqlJournal(store)
    tell = on_progress or (lambda _p: None)
    lifecycle = Lifecycle(store, journal)
    driver = ResearchDriver(store, settings, parts, journal)
    job = get_job(store, job_id)
    if job.status in FINISHED:
        return _recorded_end(job)
    lifecycle.start(job_id)
    while True:
        try:
            outcome = driver.drive(get_job(store, job_id), on_progress=tell)
        except Exception as exc:  # a bug, not a user error: the job fails, the traceback goes up
            lifecycle.finish(Finished.failure(job_id, f"internal error: {exc.__class__.__name__}: {exc}"))
            raise
        if isinstance(outcome, Finished):
            lifecycle.finish(outcome)
            return outcome
        try:
            rows = lifecycle.pause(outcome)
        except Conflict:  # the job ended meanwhile (cancelled through the API): its end stands
            return _recorded_end(get_job(store, job_id))
        for checkpoint, row in zip(outcome.checkpoints, rows, strict=True):
            if row.status != "pending":
                continue
            cancelled = get_job(store, job_id).cancel_requested
            answer = CANCELLED_DECISION if cancelled else on_checkpoint(checkpoint) if on_checkpoint else None
            if answer is None:
                tell(Progress(job_id, "waiting", message=f"waiting at {checkpoint.kind} checkpoint {checkpoint.id}"))
                return outcome
            made = answer if isinstance(answer, Decided) else parse_decided({"by": "cli", **answer},
                                                                            kind=checkpoint.kind)
            with contextlib.suppress(Conflict):  # decided elsewhere meanwhile: that decision wins
                lifecycle.decide(checkpoint.id, action=made.action, reason=made.reason, edit=made.edit, by=made.by)
        try:
            lifecycle.start(job_id)
        except Conflict:
            return _recorded_end(get_job(store, job_id))


def _recorded_end(job: JobRow) -> Finished:
    return Finished(job.id, job.status, dict(job.summary or {}), job.error)  # type: ignore[arg-type]

def tell_notes(job_id: str, notes: list[str], tell: OnProgress) -> None:
    """Show a job's notes (e.g. the llm → search fallback) as notices."""
    for note in notes:
        tell(Progress(job_id, "notice", message=note))
