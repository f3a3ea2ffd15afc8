"""``labloop worker``: takes research jobs from the queue and drives them with this machine's Docker.

    start: app database (migrated), queue tables, memory (LABLOOP_CHROMA_URL), the local sandbox
    each queue job "look at job J" (RunManager.resume_or_wait, as at an API's start-up):
        J finished, or cancelled ─────────────────────────────► nothing to do
        J waits at a checkpoint nobody decided yet ───────────► nothing to do (a decision re-queues J)
        otherwise ─► run J (with the recorded decision, if any) until its next checkpoint or its end
    while J runs: its cancel_requested flag is polled; once set, J's graph is told and its
                  containers on this engine are killed until the graph has stopped
    every worker_stalled_s / 2: jobs of workers silent for worker_stalled_s go back to the queue
    with LABLOOP_WORKER_METRICS_PORT: its own /metrics (decision to resume, LLM tokens of its jobs)

Several workers on several machines share nothing but Postgres, the Chroma server and the
shared folders (LABLOOP_TASKS_DIR, LABLOOP_ARTIFACTS_DIR); each has its own LABLOOP_HOME.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from contextlib import AsyncExitStack
from typing import Any

from procrastinate import App

from agents.errors import DockerUnavailable, LabloopError
from services.collaborators import open_collaborators
from services.driver import ResearchDriver
from services.lifecycle import Lifecycle
from services.metrics import JobMetrics, serve_worker_metrics
from services.outcomes import Finished
from services.queue import CONTEXT_KEY, ensure_schema, queue_app, retry_stalled
from services.runs import RunManager
from services.settings import Settings
from services.store import SqlJournal, get_job, open_store

log = logging.getLogger("labloop.worker")
CANCEL_POLL_S = 0.5


class WorkerRunManager(RunManager):
    """The run manager inside a worker: runs what the queue hands it, in the queue job's own task."""

    def __init__(self, *, worker_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker_name = worker_name

    async def take(self, job_id: str) -> None:
        """Drive ``job_id`` until it waits or ends, unless there is nothing to do (see the module doc)."""
        job = await asyncio.to_thread(get_job, self.store, job_id)
        resume = await self.resume_or_wait(job)
        if resume is None:
            return
        await asyncio.to_thread(self.lifecycle.journal.emit, job_id, "job.taken", {"worker": self.worker_name})
        stop = self.stop_event(job_id)  # the same event the run hands the graph's thread
        running = asyncio.current_task()
        assert running is not None
        watcher = asyncio.create_task(self._watch_cancel(job_id, stop, running), name=f"cancel-watch-{job_id}")
        try:
            await self.run(job_id, resume.decision)
        finally:
            watcher.cancel()

    async def give_up(self, job_id: str, exc: Exception) -> None:
        """Fail the job: taking it kept failing (see services.queue.run_job)."""
        reason = f"the worker could not run this job: {type(exc).__name__}: {exc}"
        await asyncio.to_thread(self._record, Finished.failure(job_id, reason))

    async def _watch_cancel(self, job_id: str, stop: threading.Event, running: asyncio.Task[Any]) -> None:
        while not (await asyncio.to_thread(get_job, self.store, job_id)).cancel_requested:
            await asyncio.sleep(CANCEL_POLL_S)
        log.info("job %s cancelled: stopping its graph and containers", job_id, extra={"job_id": job_id})
        stop.set()
        await self._kill_until_done(job_id, running)


async def _recover_stalled(app: App, stalled_s: float) -> None:
    while True:
        try:
            await retry_stalled(app, stalled_s=stalled_s)
        except Exception:  # noqa: BLE001 - a failed sweep must not stop the worker
            log.exception("looking for stalled jobs failed")
        await asyncio.sleep(max(0.5, stalled_s / 2))


async def serve_worker(settings: Settings, *, name: str | None = None) -> None:
    """Run one worker until SIGTERM/SIGINT.

    Running jobs get ``worker_shutdown_grace_s`` to reach a checkpoint or their end; then they are
    cut short and go back to the queue, to be resumed by another worker from their last checkpoint.
    """
    await ensure_schema(settings)
    app = queue_app(settings, pool_size=settings.worker_concurrency + 3)
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    async with AsyncExitStack() as stack:
        store = await asyncio.to_thread(open_store, settings.db_url)
        stack.callback(store.close)
        try:
            parts = await asyncio.to_thread(stack.enter_context, open_collaborators(settings, sandbox="required"))
        except LabloopError as exc:
            raise DockerUnavailable(f"a worker needs this machine's Docker engine and the sandbox image: {exc}") from exc
        assert parts.runner is not None
        metrics = JobMetrics()
        if settings.worker_metrics_port:
            stack.enter_context(serve_worker_metrics(metrics, addr=settings.worker_metrics_host,
                                                     port=settings.worker_metrics_port))
            log.info("worker metrics at http://%s:%d/metrics", settings.worker_metrics_host,
                     settings.worker_metrics_port)
        journal = SqlJournal(store, listeners=[metrics.observe_event])
        runs = WorkerRunManager(worker_name=name, store=store, driver=ResearchDriver(store, settings, parts, journal),
                                lifecycle=Lifecycle(store, journal), limit=settings.worker_concurrency,
                                stop_container=parts.runner.cancel, on_resumed=metrics.decision_to_resume.observe)
        await stack.enter_async_context(app.open_async())
        sweeper = asyncio.create_task(_recover_stalled(app, settings.worker_stalled_s), name="stalled-jobs")
        log.info("worker %s taking jobs (%d at a time)", name, settings.worker_concurrency)
        try:
            await app.run_worker_async(
                name=name, concurrency=settings.worker_concurrency, additional_context={CONTEXT_KEY: runs},
                update_heartbeat_interval=settings.worker_heartbeat_s,
                stalled_worker_timeout=settings.worker_stalled_s,
                shutdown_graceful_timeout=settings.worker_shutdown_grace_s, delete_jobs="successful",
                install_signal_handlers=True,
            )
        finally:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
