"""Human checkpoints and the decisions made at them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from agents.errors import InvalidInput
from services.errors import Conflict, NotFound
from services.store.db import Store
from services.store.models import CheckpointRow, DecisionRow, utcnow

ACTIONS = ("approve", "reject", "edit")


def create_checkpoint(
    store: Store,
    *,
    checkpoint_id: str,
    job_id: str,
    kind: str,
    payload: dict[str, Any],
    flagged: list[str],
) -> CheckpointRow:
    """Record a pending checkpoint; re-creating the same id returns the existing one."""
    with store.session() as session:
        row = session.get(CheckpointRow, checkpoint_id)
        if row is None:
            row = CheckpointRow(
                id=checkpoint_id,
                job_id=job_id,
                kind=kind,
                status="pending",
                payload=payload,
                flagged=flagged,
                created_at=utcnow(),
            )
            session.add(row)
    return row


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


def decide_checkpoint(
    store: Store,
    checkpoint_id: str,
    *,
    action: str,
    reason: str = "",
    edit: dict[str, Any] | None = None,
    by: str,
) -> DecisionRow:
    """Record a decision; a second decision on the same checkpoint is a Conflict."""
    if action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if action == "reject" and not reason.strip():
        raise InvalidInput("a rejection needs a reason: it is kept so later ideas avoid it")
    if action == "edit" and not edit:
        raise InvalidInput("an edit decision needs an 'edit' object (idea, params or files)")
    try:
        with store.session() as session:
            row = session.get(CheckpointRow, checkpoint_id, with_for_update=not store.is_sqlite)
            if row is None:
                raise NotFound(f"no checkpoint {checkpoint_id!r}")
            if row.status != "pending":
                raise Conflict(f"checkpoint {checkpoint_id} was already decided")
            row.status = "decided"
            row.decided_at = utcnow()
            decision = DecisionRow(
                checkpoint_id=checkpoint_id,
                job_id=row.job_id,
                action=action,
                reason=reason,
                edit=edit,
                decided_by=by,
                decided_at=row.decided_at,
            )
            session.add(decision)
    except IntegrityError as exc:  # a concurrent decision won the race
        raise Conflict(f"checkpoint {checkpoint_id} was already decided") from exc
    return decision


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
