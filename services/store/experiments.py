"""Experiments of a job, written idempotently by the journal."""

from __future__ import annotations

from sqlalchemy import select

from services.errors import NotFound
from services.store.db import Store
from services.store.models import ExperimentRow


def list_experiments(store: Store, job_id: str) -> list[ExperimentRow]:
    """A job's experiments in the order they were first recorded."""
    query = (
        select(ExperimentRow)
        .where(ExperimentRow.job_id == job_id)
        .order_by(ExperimentRow.created_at, ExperimentRow.id)
    )
    with store.session() as session:
        return list(session.scalars(query))


def get_experiment(store: Store, experiment_id: str) -> ExperimentRow:
    """The experiment ``experiment_id``; NotFound when there is none."""
    with store.session() as session:
        row = session.get(ExperimentRow, experiment_id)
    if row is None:
        raise NotFound(f"no experiment {experiment_id!r}; list a job's with GET /v1/jobs/ID/experiments")
    return row
