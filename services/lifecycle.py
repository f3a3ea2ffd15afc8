"""The one owner of a job's life: the only code that writes a job's status, its checkpoint rows
and its ``job.queued``/``job.running``/``checkpoint.*``/``job.waiting``/``job.finished`` events.

Everyone else asks it: the driver only drives and returns :class:`~services.outcomes.Paused`
or :class:`~services.outcomes.Finished`; the run manager only schedules; the CLI, the API and
the scheduler only create jobs and pass decisions on. Every move is checked against the
tables in :mod:`services.statuses` under the job's row lock, so two processes can never move
one job two ways; an illegal move is a :class:`~services.errors.Conflict` (HTTP 409).

    create ─► queued ─► start ─► running ─┬─ pause ─► waiting ─► decide ─► start ─► running ...
                                          └─ finish ─► succeeded | failed | cancelled
    request_cancel (any unfinished job) ─► cancel ─► cancelled

A finished job closes its pending checkpoints in the same transaction, so nobody can decide
them any more. ``job.finished`` is emitted once, by the call that moved the job to its end.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from agents.checkpoints import parse_decision
from agents.protocols import Journal
from services.errors import Conflict, NotFound
from services.outcomes import Checkpoint, Finished, Paused
from services.statuses import (
    FINISHED,
    JOB_STATUSES,
    JobStatus,
    checkpoint_move_is_legal,
    job_move_is_legal,
)
from services.store.db import Store
from services.store.journal import SqlJournal
from services.store.models import CheckpointRow, DecisionRow, JobRow, utcnow

log = logging.getLogger("labloop.lifecycle")


class Lifecycle:
    """Moves jobs and checkpoints through their statuses in the app database, and announces it."""

    def __init__(self, store: Store, journal: Journal | None = None) -> None:
        self.store = store
        self.journal: Journal = journal or SqlJournal(store)

    # -- jobs -----------------------------------------------------------------------------------

    def create(self, job: JobRow) -> JobRow:
        """Store a new job built by :func:`services.jobs.new_job` (queued) and announce it."""
        with self.store.session() as session:
            session.add(job)
        self.journal.emit(job.id, "job.queued", {"task": job.task_name, "by": job.created_by})
        return job

    def move(self, job_id: str, status: JobStatus, *, error: str | None = None,
             summary: dict[str, Any] | None = None) -> JobRow:
        """Move a job to ``status`` if the table allows it (Conflict otherwise); a finished job
        closes its pending checkpoints. Moving a job to the status it has is allowed only where
        the table says so (``running``, ``waiting``)."""
        row, _moved = self._move(job_id, status, error=error, summary=summary)
        return row

    def start(self, job_id: str, *, resumed_with: DecisionRow | None = None) -> JobRow:
        """The job's graph runs now (first, again after a restart, or with a decision)."""
        row = self.move(job_id, "running")
        self.journal.emit(job_id, "job.running", {"resumed_with": resumed_with.action if resumed_with else None})
        return row

    def pause(self, paused: Paused) -> list[CheckpointRow]:
        """Record the checkpoints the job waits at (each once: a pause seen again after a restart
        is not announced again) and move the job to ``waiting``."""
        opened = [self._open_checkpoint(checkpoint) for checkpoint in paused.checkpoints]
        self.move(paused.job_id, "waiting")
        for (row, created), checkpoint in zip(opened, paused.checkpoints, strict=True):
            log.info("job %s waiting at %s", row.job_id, row.id, extra={"job_id": row.job_id, "checkpoint_id": row.id})
            if created:
                self.journal.emit(row.job_id, "checkpoint.created",
                                  {"checkpoint_id": row.id, "kind": row.kind, "flagged": list(checkpoint.flagged)})
        if any(created for _row, created in opened):  # the job starts waiting (a restart's re-pause is silent)
            self.journal.emit(paused.job_id, "job.waiting", {"checkpoints": [
                {"checkpoint_id": row.id, "kind": row.kind} for row, _created in opened]})
        return [row for row, _created in opened]

    def finish(self, outcome: Finished) -> JobRow:
        """Record the end of a job's graph, announced once with ``job.finished``.

        A job that finished meanwhile (cancelled by a user while its graph ran on to its end)
        keeps its end; only a summary its end had not got yet (the cancelled graph's report)
        is added to it.
        """
        job_id = outcome.job_id
        row, moved = self._move(job_id, outcome.status, error=outcome.error, summary=outcome.summary or None,
                                late=True)
        if moved:
            log.info("job %s %s", job_id, outcome.status, extra={"job_id": job_id})
            self._announce_end(row)
        return row

    def request_cancel(self, job_id: str) -> JobRow:
        """Mark a job for cancellation: its graph ends at its next decide step. Conflict when finished."""
        with self.store.session() as session:
            row = session.get(JobRow, job_id, with_for_update=not self.store.is_sqlite)
            if row is None:
                raise NotFound(f"no job {job_id!r}")
            if row.status in FINISHED:
                raise Conflict(f"job {job_id} already {row.status}; nothing to cancel")
            row.cancel_requested = True
        return row

    def cancel(self, job_id: str, *, summary: dict[str, Any] | None = None) -> JobRow:
        """End a job cancelled by a user (its pending checkpoints close); ``summary`` when its report was written."""
        row, moved = self._move(job_id, "cancelled", summary=summary, late=True)
        if moved:
            self._announce_end(row)
        elif row.status != "cancelled":
            raise Conflict(f"job {job_id} already {row.status}; nothing to cancel")
        return row

    # -- checkpoints ----------------------------------------------------------------------------

    def decide(self, checkpoint_id: str, *, action: str, reason: str = "", edit: dict[str, Any] | None = None,
               by: str) -> DecisionRow:
        """Record a human decision; Conflict when the checkpoint is closed or its job finished.

        The decision is checked by the checkpoint contract (:func:`agents.checkpoints.parse_decision`):
        a known action, a reason to reject, an edit of the shape the checkpoint's kind takes.
        """
        made = parse_decision({"action": action, "reason": reason, "edit": edit})
        lock = not self.store.is_sqlite
        try:
            with self.store.session() as session:
                row = session.get(CheckpointRow, checkpoint_id, with_for_update=lock)
                if row is None:
                    raise NotFound(f"no checkpoint {checkpoint_id!r}; list pending ones with `labloop checkpoints`")
                job = session.get(JobRow, row.job_id)
                if job is not None and job.status in FINISHED:
                    raise Conflict(f"job {job.id} already {job.status}; its checkpoints can no longer be decided")
                if not checkpoint_move_is_legal(row.status, "decided"):
                    raise Conflict(f"checkpoint {checkpoint_id} was already decided")
                if made.edit:
                    parse_decision(made.model_dump(), kind=row.kind)
                row.status = "decided"
                row.decided_at = utcnow()
                decision = DecisionRow(checkpoint_id=checkpoint_id, job_id=row.job_id, action=action, reason=reason,
                                       edit=edit, decided_by=by, decided_at=row.decided_at)
                session.add(decision)
        except IntegrityError as exc:  # a concurrent decision won the race
            raise Conflict(f"checkpoint {checkpoint_id} was already decided") from exc
        self.journal.emit(decision.job_id, "checkpoint.decided",
                          {"checkpoint_id": checkpoint_id, "action": action, "reason": reason, "by": by})
        return decision

    # -- the writes -----------------------------------------------------------------------------

    def _move(self, job_id: str, status: JobStatus, *, error: str | None = None,
              summary: dict[str, Any] | None = None, late: bool = False) -> tuple[JobRow, bool]:
        """The one place a job's status is written. ``late``: a repeated end only adds a missing summary."""
        if status not in JOB_STATUSES:
            raise ValueError(f"unknown job status {status!r}")
        with self.store.session() as session:
            row = session.get(JobRow, job_id, with_for_update=not self.store.is_sqlite)
            if row is None:
                raise NotFound(f"no job {job_id!r}; list jobs with `labloop jobs` or GET /v1/jobs")
            if late and row.status in FINISHED:
                if row.status == status and summary is not None and not row.summary:
                    row.summary = summary
                else:
                    log.info("job %s already %s; its %s end is dropped", job_id, row.status, status,
                             extra={"job_id": job_id})
                return row, False
            if not job_move_is_legal(row.status, status):
                raise Conflict(f"job {job_id} is {row.status}; it cannot become {status}")
            row.status = status
            if status == "running" and row.started_at is None:
                row.started_at = utcnow()
            if status in FINISHED:
                row.finished_at = utcnow()
                session.execute(  # a finished job is never resumed: nobody may decide its checkpoints
                    update(CheckpointRow)
                    .where(CheckpointRow.job_id == job_id, CheckpointRow.status == "pending")
                    .values(status="cancelled", decided_at=row.finished_at)
                )
            if error is not None:
                row.error = error
            if summary is not None:
                row.summary = summary
        return row, True

    def _open_checkpoint(self, checkpoint: Checkpoint) -> tuple[CheckpointRow, bool]:
        """The checkpoint's row, created pending unless it exists (a re-run gate asks the same id)."""
        with self.store.session() as session:
            row = session.get(CheckpointRow, checkpoint.id)
            if row is not None:
                return row, False
            row = CheckpointRow(id=checkpoint.id, job_id=checkpoint.job_id, kind=checkpoint.kind, status="pending",
                                payload=checkpoint.payload, flagged=checkpoint.flagged, created_at=utcnow())
            session.add(row)
        return row, True

    def _announce_end(self, row: JobRow) -> None:
        self.journal.emit(row.id, "job.finished", {"status": row.status, "error": row.error,
                                                   "llm_tokens": (row.summary or {}).get("llm_tokens", 0)})

