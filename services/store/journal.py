"""The app-database implementation of the graph's Journal protocol."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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
        """Insert or update ``record.id``; re-running a node rewrites, never duplicates.

        One INSERT … ON CONFLICT DO UPDATE (SQLite and Postgres both have it), not an ORM
        read-modify-write: two of these a run, at a fifth of the ORM's cost.
        """
        now = utcnow()
        values = {
            "iteration": record.iteration, "role": record.role, "params": dict(record.params),
            "seed": record.seed, "status": record.status, "idea_title": record.idea_title, "diff": record.diff,
            "result": record.result.model_dump(mode="json") if record.result is not None else None,
            "duration_s": record.result.duration_s if record.result is not None else None,
            "output_dir": record.output_dir, "updated_at": now,
        }
        insert = sqlite_insert if self.store.is_sqlite else postgresql_insert
        statement = insert(ExperimentRow).values(id=record.id, job_id=record.job_id, created_at=now, writes=1,
                                                 **values)
        statement = statement.on_conflict_do_update(
            index_elements=[ExperimentRow.id], set_={**values, "writes": ExperimentRow.writes + 1})
        with self.store.engine.begin() as conn:
            conn.execute(statement)

    def emit(self, job_id: str, kind: str, data: Mapping[str, Any]) -> None:
        """Append an event to the job's stream and tell the listeners."""
        event_id = append_event(self.store, job_id, kind, dict(data))
        for listener in self.listeners:
            listener(event_id, job_id, kind, data)
