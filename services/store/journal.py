"""The app-database implementation of the graph's Journal protocol."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agents.protocols import ExperimentRecord
from services.store.db import Store
from services.store.events import append_event
from services.store.models import ExperimentRow, utcnow

EventListener = Callable[[int, str, str, Mapping[str, Any]], None]


class SqlJournal:
    """Records experiments (upserts by id) and events in the app database.

    ``listeners`` are told of each event after it is stored (the API's live SSE fan-out).
    """

    def __init__(self, store: Store, listeners: list[EventListener] | None = None) -> None:
        self.store = store
        self.listeners = list(listeners or [])

    def record_experiment(self, record: ExperimentRecord) -> None:
        """Insert or update ``record.id``; re-running a node rewrites, never duplicates."""
        result = record.result.model_dump(mode="json") if record.result is not None else None
        with self.store.session() as session:
            row = session.get(ExperimentRow, record.id)
            if row is None:
                row = ExperimentRow(id=record.id, job_id=record.job_id, created_at=utcnow(), writes=0)
                session.add(row)
            row.iteration = record.iteration
            row.role = record.role
            row.params = dict(record.params)
            row.seed = record.seed
            row.status = record.status
            row.idea_title = record.idea_title
            row.diff = record.diff
            row.result = result
            row.duration_s = record.result.duration_s if record.result is not None else None
            row.output_dir = record.output_dir
            row.writes = (row.writes or 0) + 1
            row.updated_at = utcnow()

    def emit(self, job_id: str, kind: str, data: Mapping[str, Any]) -> None:
        """Append an event to the job's stream and tell the listeners."""
        event_id = append_event(self.store, job_id, kind, dict(data))
        for listener in self.listeners:
            listener(event_id, job_id, kind, data)
