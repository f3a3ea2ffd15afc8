"""Jobs: create, read, list and move through their statuses."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update

from services.errors import Conflict, NotFound
from services.store.db import Store
from services.store.models import CheckpointRow, JobRow, utcnow

JOB_STATUSES = ("queued", "running", "waiting", "succeeded", "failed", "cancelled")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


def new_job_id() -> str:
    """A short, unique, URL-safe job id."""
    return "job-" + uuid.uuid4().hex[:12]


def create_job(
    store: Store,
    *,
    task_name: str,
    task_dir: str,
    strategy: str,
    budget: dict[str, Any] | None = None,
    gates: dict[str, Any] | None = None,
    created_by: str = "cli",
    schedule_id: str | None = None,
    job_id: str | None = None,
    status: str = "queued",
) -> JobRow:
    """Record a new job (queued unless told otherwise) and return it."""
    row = JobRow(
        id=job_id or new_job_id(),
        task_name=task_name,
        task_dir=task_dir,
        strategy=strategy,
        status=status,
        budget=budget or {},
        gates=gates or {},
        created_by=created_by,
        schedule_id=schedule_id,
        cancel_requested=False,
        created_at=utcnow(),
    )
    with store.session() as session:
        session.add(row)
    return row


def get_job(store: Store, job_id: str) -> JobRow:
    """The job ``job_id``; NotFound when there is none."""
    with store.session() as session:
        row = session.get(JobRow, job_id)
    if row is None:
        raise NotFound(f"no job {job_id!r}; list jobs with `labloop jobs` or GET /v1/jobs")
    return row


def list_jobs(
    store: Store, *, status: str | None = None, task_name: str | None = None, limit: int = 100
) -> list[JobRow]:
    """Jobs, newest first, optionally filtered by status and task."""
    query = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(JobRow.status == status)
    if task_name is not None:
        query = query.where(JobRow.task_name == task_name)
    with store.session() as session:
        return list(session.scalars(query))


def set_job_status(
    store: Store,
    job_id: str,
    status: str,
    *,
    error: str | None = None,
    summary: dict[str, Any] | None = None,
) -> JobRow:
    """Move a job to ``status``; a finished job is never moved again (Conflict)."""
    if status not in JOB_STATUSES:
        raise ValueError(f"unknown job status {status!r}")
    with store.session() as session:
        row = session.get(JobRow, job_id, with_for_update=not store.is_sqlite)
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        if row.status in FINISHED and status != row.status:
            raise Conflict(f"job {job_id} already {row.status}; it cannot become {status}")
        row.status = status
        if status == "running" and row.started_at is None:
            row.started_at = utcnow()
        if status in FINISHED:
            row.finished_at = utcnow()
            # A finished job is never resumed, so nobody may decide its pending checkpoints.
            session.execute(
                update(CheckpointRow)
                .where(CheckpointRow.job_id == job_id, CheckpointRow.status == "pending")
                .values(status="cancelled", decided_at=row.finished_at)
            )
        if error is not None:
            row.error = error
        if summary is not None:
            row.summary = summary
    return row


def request_cancel(store: Store, job_id: str) -> JobRow:
    """Mark a job for cancellation; the process running it stops it. Conflict when finished."""
    with store.session() as session:
        row = session.get(JobRow, job_id)
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        if row.status in FINISHED:
            raise Conflict(f"job {job_id} already {row.status}; nothing to cancel")
        row.cancel_requested = True
    return row
