"""Human checkpoints and the decisions made at them (read here; written by :mod:`services.lifecycle`)."""

from __future__ import annotations

from sqlalchemy import select

from services.errors import NotFound
from services.store.db import Store
from services.store.models import CheckpointRow, DecisionRow


def get_checkpoint(store: Store, checkpoint_id: str) -> CheckpointRow:
    """The checkpoint ``checkpoint_id``; NotFound when there is none."""
    with store.session() as session:
        row = session.get(CheckpointRow, checkpoint_id)
    if row is None:
        raise NotFound(f"no checkpoint {checkpoint_id!r}; list pending ones with `labloop checkpoints`")
    return row


def list_checkpoints(
    store: Store, *, status: str | None = None, job_id: str | None = None, limit: int = 100
) -> list[CheckpointRow]:
    """Checkpoints, oldest first, optionally filtered."""
    query = select(CheckpointRow).order_by(CheckpointRow.created_at).limit(limit)
    if status is not None:
        query = query.where(CheckpointRow.status == status)
    if job_id is not None:
        query = query.where(CheckpointRow.job_id == job_id)
    with store.session() as session:
        return list(session.scalars(query))


def get_decision(store: Store, checkpoint_id: str) -> DecisionRow | None:
    """The decision made at a checkpoint, if any."""
    with store.session() as session:
        return session.scalars(
            select(DecisionRow).where(DecisionRow.checkpoint_id == checkpoint_id)
        ).first()


def list_decisions(store: Store, job_id: str) -> list[DecisionRow]:
    """Every decision made for a job, in order."""
    with store.session() as session:
        return list(
            session.scalars(
                select(DecisionRow).where(DecisionRow.job_id == job_id).order_by(DecisionRow.id)
            )
        )
