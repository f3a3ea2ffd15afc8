"""A job's progress events: an append-only log whose integer ids are the SSE event ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.store.db import Store
from services.store.models import EventRow, utcnow


def append_event(store: Store, job_id: str, kind: str, data: dict[str, Any]) -> int:
    """Append one event and return its id."""
    with store.session() as session:
        row = EventRow(job_id=job_id, kind=kind, data=data, at=utcnow())
        session.add(row)
        session.flush()
        return row.id


def events_after(store: Store, job_id: str, after_id: int = 0, limit: int = 500) -> list[EventRow]:
    """The job's events with an id greater than ``after_id``, oldest first."""
    query = (
        select(EventRow)
        .where(EventRow.job_id == job_id, EventRow.id > after_id)
        .order_by(EventRow.id)
        .limit(limit)
    )
    with store.session() as session:
        return list(session.scalars(query))
