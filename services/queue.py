"""The work queue of the scale-out profile (``LABLOOP_EXECUTOR=queue``): procrastinate on Postgres.

    API: POST /v1/jobs, a decision, a schedule firing ──► defer labloop.run_job(job_id)
    labloop worker (any number, any machine) ──► takes it ──► drives the job until it waits or ends
    a worker that stops sending heartbeats ──► its job goes back to 'todo' ──► another worker
                                               resumes it from the job's last graph checkpoint

Every queue job of a research job carries ``lock = queueing_lock = job id``: procrastinate never
runs two jobs with one lock at once (so never two workers on one research job), and keeps at
most one waiting. A worker reads everything else (the decision to resume with, cancel) from the
app database, so a message is only "look at this job now" and a duplicate is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from procrastinate import App, BaseRetryStrategy, JobContext, PsycopgConnector, RetryDecision
from procrastinate.exceptions import AlreadyEnqueued, JobAborted, UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.schema import SchemaManager

from agents.errors import ConfigError
from services.checkpointer import postgres_url
from services.runs import RunManager
from services.settings import Settings
from services.store.models import DecisionRow, JobRow

log = logging.getLogger("labloop.queue")
RUN_JOB = "labloop.run_job"
CONTEXT_KEY = "labloop_worker"
SCHEMA_LOCK_KEY = 7243002  # pg advisory lock: one process applies the queue's schema
TAKE_ATTEMPTS = 4


def queue_url(settings: Settings) -> str:
    """The libpq URL the queue lives at: the app database, which must then be Postgres."""
    url = postgres_url(settings)
    if url is None:
        raise ConfigError("LABLOOP_EXECUTOR=queue needs the app database on Postgres: set "
                          "LABLOOP_DATABASE_URL=postgresql://USER@HOST:5432/DB (or use LABLOOP_EXECUTOR=inprocess)")
    return url


async def run_job(context: JobContext, job_id: str) -> None:
    """The queue task: the worker that took it drives research job ``job_id`` (see services.worker).

    A failure around the graph (the database or the checkpointer not answering) is tried again a
    few times; after the last try the research job fails with the reason, so it never hangs queued.
    """
    worker = context.additional_context[CONTEXT_KEY]
    try:
        await worker.take(job_id)
    except Exception as exc:
        if context.job.attempts < TAKE_ATTEMPTS:
            log.warning("taking job %s failed (%s); trying again", job_id, exc, extra={"job_id": job_id})
            raise
        log.exception("taking job %s failed %d times; it fails", job_id, TAKE_ATTEMPTS, extra={"job_id": job_id})
        await worker.give_up(job_id, exc)


class _Retry(BaseRetryStrategy):
    """When a queue job goes back to the queue: always after a worker's shutdown, a few times after an error."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError | JobAborted):  # cut short by a shutdown
            return RetryDecision(retry_in={"seconds": 1})
        if isinstance(exception, Exception) and job.attempts < TAKE_ATTEMPTS:
            return RetryDecision(retry_in={"seconds": 2 * (job.attempts + 1)})
        return None


def queue_app(settings: Settings, *, pool_size: int = 4) -> App:
    """A procrastinate app on the app database (open it with ``async with app.open_async()``)."""
    app = App(connector=PsycopgConnector(conninfo=queue_url(settings), min_size=1, max_size=pool_size))
    # A job whose worker died is brought back by retry_stalled; a graph failure fails the research
    # job itself (the run manager records it), so the task raises only for the cases _Retry handles.
    app.task(name=RUN_JOB, pass_context=True, retry=_Retry())(run_job)
    return app


async def ensure_schema(settings: Settings) -> bool:
    """Create procrastinate's tables unless they exist; True when this call created them.

    Every API and worker process calls this on start; an advisory lock makes the check and the
    creation one step, so processes starting together do not race.
    """
    async with await psycopg.AsyncConnection.connect(queue_url(settings), autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            row = await cursor.fetchone()
            if row is not None and row[0]:
                return False
            await conn.execute(SchemaManager.get_schema())
            log.info("created the work queue's tables")
            return True
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


async def defer_run(app: App, job_id: str) -> bool:
    """Ask a worker to look at ``job_id``; False when a request for it is already waiting."""
    try:
        await app.configure_task(RUN_JOB, lock=job_id, queueing_lock=job_id).defer_async(job_id=job_id)
    except AlreadyEnqueued:
        return False
    return True


async def retry_stalled(app: App, *, stalled_s: float) -> list[str]:
    """Put the jobs of workers silent for ``stalled_s`` back in the queue; return their job ids.

    Any worker may run this (they all do, periodically); a job another worker retried first is
    skipped. When a newer request for the same research job is already waiting, that one will
    do the work: the stalled one is closed as failed, which also frees the job's lock.
    """
    retried = []
    for job in await app.job_manager.get_stalled_jobs(task_name=RUN_JOB, seconds_since_heartbeat=stalled_s):
        assert job.id is not None
        research_job = str(job.task_kwargs.get("job_id"))
        try:
            await app.job_manager.retry_job(job)
        except UniqueViolation:
            await app.job_manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
        except Exception as exc:  # noqa: BLE001 - retried by another worker meanwhile
            log.info("stalled queue job %s not retried: %s", job.id, exc, extra={"job_id": research_job})
            continue
        log.warning("job %s resumes on another worker (its worker stopped sending heartbeats)", research_job,
                    extra={"job_id": research_job})
        retried.append(research_job)
    return retried


class QueueRunManager(RunManager):
    """The API's run manager when workers run the jobs: submitting defers to the queue.

    Decisions, cancel and recovery (:meth:`RunManager.resume_or_wait`) are the embedded manager's;
    only where a job runs changes.
    A cancel is seen by the worker running the job (it reads ``cancel_requested``).
    """

    def __init__(self, *, queue: App, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.queue = queue
        self._deferring: set[asyncio.Task[None]] = set()

    def submit(self, job_id: str, decision: DecisionRow | None = None) -> None:
        """Defer ``job_id`` to the queue (in the background; :meth:`close` waits for it)."""
        del decision  # the worker reads the decision from the app database
        if self._closing:
            return
        task = asyncio.get_running_loop().create_task(self._defer(job_id), name=f"defer-{job_id}")
        self._deferring.add(task)
        task.add_done_callback(self._deferring.discard)

    async def _defer(self, job_id: str) -> None:
        try:
            await defer_run(self.queue, job_id)
        except Exception:  # noqa: BLE001 - logged; the next API start re-defers unfinished jobs
            log.exception("could not queue job %s", job_id, extra={"job_id": job_id})

    async def cancel(self, job_id: str) -> JobRow:
        """Record the cancel; the worker running the job stops it and kills its container."""
        row = await super().cancel(job_id)
        self._stops.pop(job_id, None)  # no thread here to tell
        return row

    async def close(self) -> None:
        """Finish queueing what was submitted, then stop."""
        self._closing = True
        if self._deferring:
            await asyncio.gather(*self._deferring, return_exceptions=True)
