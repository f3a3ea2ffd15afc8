"""Counts the metrics endpoint reads straight from the app database (true across restarts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, text

from services.store.db import Store
from services.store.models import ExperimentRow, JobRow


@dataclass(frozen=True)
class StoreStats:
    """Jobs by status, experiments by status, and the sum and count of sandbox run times."""

    jobs: dict[str, int]
    experiments: dict[str, int]
    sandbox_seconds_sum: float
    sandbox_runs: int


def store_stats(store: Store) -> StoreStats:
    """Read the counts in one short session."""
    with store.session() as session:
        jobs = dict(session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all())
        experiments = dict(
            session.execute(select(ExperimentRow.status, func.count()).group_by(ExperimentRow.status)).all()
        )
        total, runs = session.execute(
            select(func.coalesce(func.sum(ExperimentRow.duration_s), 0.0), func.count(ExperimentRow.duration_s))
        ).one()
    return StoreStats(
        jobs={str(k): int(v) for k, v in jobs.items()},
        experiments={str(k): int(v) for k, v in experiments.items()},
        sandbox_seconds_sum=float(total or 0.0),
        sandbox_runs=int(runs or 0),
    )


def ping(store: Store) -> None:
    """Raise unless the database answers a trivial query."""
    with store.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


_JOB_BY_ID = select(JobRow.__table__).where(JobRow.id == bindparam("job_id"))


def read_job_row(store: Store, job_id: str) -> Any:
    """The job's columns as a read-only row (attribute access), without an ORM session; None if absent.

    The API's most polled route reads through this: a Core select costs about half a session, and
    building the statement once halves it again.
    """
    with store.engine.connect() as connection:
        return connection.execute(_JOB_BY_ID, {"job_id": job_id}).first()
