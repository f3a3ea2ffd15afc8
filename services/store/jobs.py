"""Jobs: insert and read. Only :mod:`services.lifecycle` moves a job through its statuses."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from services.errors import Conflict, NotFound
from services.statuses import FINISHED, INITIAL, JobStatus
from services.store.db import Store
from services.store.models import JobRow, utcnow


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
    status: JobStatus = INITIAL,
    paper: bool = False,
) -> JobRow:
    """Insert a new job (queued unless told otherwise: tests and benchmarks set up jobs in any state)."""
    row = JobRow(
        id=job_id or new_job_id(),
        task_name=task_name,
        task_dir=task_dir,
        strategy=strategy,
        status=status,
        budget=budget or {},
        gates=gates or {},
        paper=paper,
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



def ask_for_paper(store: Store, job_id: str) -> JobRow:
    """Have ``job_id`` end with a write-up (``labloop resume --paper``); Conflict once it has ended,
    since a finished job's graph does not run again."""
    with store.session() as session:
        row = session.get(JobRow, job_id)
        if row is None:
            raise NotFound(f"no job {job_id!r}; list jobs with `labloop jobs` or GET /v1/jobs")
        if row.status in FINISHED and not row.paper:
            raise Conflict(f"job {job_id} has {row.status}: --paper applies to a job that has not ended; run the "
                           "task again with `labloop run TASK --paper`")
        row.paper = True
    return row
