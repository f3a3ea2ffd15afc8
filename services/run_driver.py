"""The run manager's driver over :mod:`services.research` (the embedded profile's JobDriver).

``drive_job`` runs a job from wherever it is until it ends or waits at a checkpoint, reading
any decision already recorded in the app database, so a resume needs nothing but the job id.
``waiting_at`` reads the graph's checkpointer to tell, after a restart, which checkpoint a job
is paused at.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agents.errors import DockerUnavailable
from agents.graph import build_graph
from agents.protocols import ExperimentRunner, Journal, Memory
from services.checkpointer import open_checkpointer
from services.research import Collaborators, chat_model, drive_job, report_cancelled
from services.runs import Finish, Pause
from services.settings import Settings
from services.store.models import DecisionRow, JobRow

_FINISHED = ("succeeded", "failed", "cancelled")


class ResearchDriver:
    """Drives jobs through the research graph in the calling thread."""

    def __init__(self, store: Any, settings: Settings, parts: Collaborators | None, journal: Journal) -> None:
        self.store = store
        self.settings = settings
        self.parts = parts
        self.journal = journal

    def waiting_at(self, job: JobRow) -> Pause | None:
        """The checkpoint the job's graph is paused at, if it is paused at one."""
        with open_checkpointer(self.settings) as saver:
            graph = build_graph(saver)
            snapshot = graph.get_state({"configurable": {"thread_id": job.id}})
        if not snapshot.interrupts:
            return None
        value = snapshot.interrupts[0].value
        return Pause(checkpoint_id=str(value["checkpoint_id"]), kind=str(value["kind"]),
                     payload=dict(value.get("payload") or {}), flagged=list(value.get("flagged") or []))

    def report_cancelled(self, job: JobRow) -> None:
        """Write the report of ``job``, cancelled while it waited, from its paused graph's state."""
        report_cancelled(self.store, self.settings, job.id, journal=self.journal)

    def advance(self, job: JobRow, *, decision: DecisionRow | None, cancelled: threading.Event) -> Pause | Finish:
        """Run the job until it waits or ends; a recorded decision is picked up by ``drive_job``."""
        del decision, cancelled  # drive_job reads both from the app database (cancel_requested)
        if self.parts is None:
            raise DockerUnavailable("the sandbox was not available when the server started; "
                                    "start Docker and restart the server")
        outcome = drive_job(self.store, self.settings, job.id, self.parts, journal=self.journal)
        if outcome.status == "waiting" and outcome.checkpoint is not None:
            cp = outcome.checkpoint
            return Pause(checkpoint_id=cp.id, kind=cp.kind, payload=cp.payload, flagged=cp.flagged)
        status = outcome.status if outcome.status in _FINISHED else "failed"
        return Finish(status=status, summary=outcome.summary, error=outcome.error)  # type: ignore[arg-type]


@contextmanager
def open_driver(
    settings: Settings, *, store: Any, journal: Journal, runner: ExperimentRunner | None, memory: Memory | None
) -> Iterator[ResearchDriver]:
    """The driver for this process's sandbox, memory and (optional) model."""
    parts = Collaborators(runner=runner, memory=memory, model=chat_model(settings)) if runner else None
    yield ResearchDriver(store, settings, parts, journal)
