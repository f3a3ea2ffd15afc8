"""The run manager: it only schedules. Jobs run as asyncio tasks here (embedded profile), or
are handed to the queue (:class:`services.queue.QueueRunManager`); a worker runs what the
queue hands it with the same manager (:class:`services.worker.WorkerRunManager`).

    submit(job) ─► (a slot frees) ─► lifecycle.start ─► driver.drive() in a daemon thread
                                                     ├─ Paused   ─► lifecycle.pause   (slot freed)
                                                     └─ Finished ─► lifecycle.finish
    decide(checkpoint) ─► lifecycle.decide (409 twice) ─► submit(job) ─► the driver resumes with it
    cancel(job) ─► lifecycle.request_cancel ─► stop its thread, kill its containers ─► lifecycle.cancel

Who does what: the driver (:mod:`services.driver`) drives and writes nothing; the lifecycle
(:mod:`services.lifecycle`) is the only writer of a job's status, checkpoints and
``job.finished``; this module decides when and where a job runs.

A job waiting at a checkpoint holds no task and no thread. :meth:`RunManager.resume_or_wait`
decides, for start-up recovery and for a worker taking a job alike, whether a job runs now:
a finished job does not; a cancelled one ends; one paused at a decided checkpoint resumes
with that decision; one paused at a pending checkpoint stays waiting (its row written if the
process died before it was); the rest continue where they stopped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from services.errors import Conflict
from services.lifecycle import Lifecycle
from services.outcomes import Finished, Paused
from services.statuses import FINISHED
from services.store import Store, get_checkpoint, get_decision, get_job, list_jobs
from services.store.models import DecisionRow, JobRow, utcnow
from services.store.schedules import as_utc

log = logging.getLogger("labloop.runs")
T = TypeVar("T")
KILL_INTERVAL_S = 0.5


class JobDriver(Protocol):
    """Moves one job through the research graph, in a worker thread; writes nothing of its life."""

    def waiting_at(self, job: JobRow) -> Paused | None:
        """The checkpoints the job's graph is paused at, read from the graph's checkpointer."""
        ...

    def drive(self, job: JobRow, *, stop: Callable[[], bool]) -> Paused | Finished:
        """Run until the next undecided checkpoint or the end; ``stop()`` says the job was cancelled."""
        ...

    def report_cancelled(self, job: JobRow) -> dict[str, Any] | None:
        """Write the final report of ``job``, cancelled while waiting; return its summary."""
        ...


@dataclass(frozen=True)
class Resume:
    """A job to run now, with the decision it resumes with (if it was paused at a decided checkpoint)."""

    decision: DecisionRow | None = None


class RunManager:
    """Runs jobs as asyncio tasks in this process, at most ``limit`` at a time."""

    def __init__(
        self,
        *,
        store: Store,
        driver: JobDriver,
        lifecycle: Lifecycle,
        limit: int,
        stop_container: Callable[[str], object] | None = None,
        on_decided: Callable[[float], None] | None = None,
        on_resumed: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.driver = driver
        self.lifecycle = lifecycle
        self.stop_container = stop_container
        self.on_decided = on_decided
        self.on_resumed = on_resumed
        self._slots = asyncio.Semaphore(limit)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, threading.Event] = {}
        self._closing = False
        self._in_thread: set[str] = set()
        self._again: dict[str, DecisionRow | None] = {}

    def active(self) -> list[str]:
        """Ids of jobs that hold a task (queued for a slot or running)."""
        return list(self._tasks)

    def submit(self, job_id: str, decision: DecisionRow | None = None) -> None:
        """Queue ``job_id`` to run (or resume with ``decision``) as soon as a slot is free."""
        if self._closing:
            return
        if job_id in self._tasks:
            # Its previous run is still recording its pause (a fast decision can get here first):
            # run again as soon as that task ends.
            self._again[job_id] = decision
            return
        self._stops[job_id] = threading.Event()
        task = asyncio.get_running_loop().create_task(self._run(job_id, decision), name=job_id)
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._forget(job_id))

    def _forget(self, job_id: str) -> None:
        self._tasks.pop(job_id, None)
        self._stops.pop(job_id, None)
        if job_id in self._again:
            self.submit(job_id, self._again.pop(job_id))

    def stop_event(self, job_id: str) -> threading.Event:
        """The event that tells a job's thread it was cancelled."""
        return self._stops.setdefault(job_id, threading.Event())

    async def run(self, job_id: str, decision: DecisionRow | None = None) -> None:
        """Run ``job_id`` in the caller's task until it waits or ends (a queue worker's entry point)."""
        try:
            await self._run(job_id, decision)
        finally:
            self._stops.pop(job_id, None)

    async def _run(self, job_id: str, decision: DecisionRow | None) -> None:
        cancelled = self.stop_event(job_id)
        async with self._slots:
            job = await asyncio.to_thread(get_job, self.store, job_id)
            if job.status in FINISHED or job.cancel_requested or cancelled.is_set():
                return
            job = await asyncio.to_thread(self.lifecycle.start, job_id, resumed_with=decision)
            log.info("job %s running%s", job_id, f" after {decision.action}" if decision else "",
                     extra={"job_id": job_id})
            if decision is not None and self.on_resumed is not None:
                self.on_resumed((utcnow() - as_utc(decision.decided_at)).total_seconds())
            self._in_thread.add(job_id)
            try:
                outcome = await _in_daemon_thread(lambda: self.driver.drive(job, stop=cancelled.is_set))
            except Exception as exc:  # noqa: BLE001 - a bug in the graph fails the job, loudly
                log.exception("job failed", extra={"job_id": job_id})
                outcome = Finished.failure(job_id, f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self._in_thread.discard(job_id)
            await asyncio.to_thread(self._record, outcome)

    def _record(self, outcome: Paused | Finished) -> None:
        try:
            if isinstance(outcome, Paused):
                self.lifecycle.pause(outcome)
            else:
                self.lifecycle.finish(outcome)
        except Conflict:
            log.info("job finished meanwhile (cancelled); outcome dropped", extra={"job_id": outcome.job_id})

    async def decide(
        self, checkpoint_id: str, *, action: str, reason: str, edit: dict[str, Any] | None, by: str
    ) -> DecisionRow:
        """Record a decision (Conflict when made before, or when its job finished) and resume its job at once."""
        decision = await asyncio.to_thread(
            self.lifecycle.decide, checkpoint_id, action=action, reason=reason, edit=edit, by=by
        )
        if self.on_decided is not None:
            checkpoint = await asyncio.to_thread(get_checkpoint, self.store, checkpoint_id)
            self.on_decided((as_utc(decision.decided_at) - as_utc(checkpoint.created_at)).total_seconds())
        self.submit(decision.job_id, decision)
        return decision

    async def cancel(self, job_id: str) -> JobRow:
        """Stop a job at once: its status (which closes its pending checkpoints), its container, then its thread.

        A job cancelled while waiting at a checkpoint gets its report written here, since no
        thread of its graph is left to write it.
        """
        before = await asyncio.to_thread(self.lifecycle.request_cancel, job_id)
        self.stop_event(job_id).set()
        task = self._tasks.get(job_id)
        summary = None
        if before.status == "waiting" and task is None:  # its report goes before job.finished ends the streams
            try:
                summary = await asyncio.to_thread(self.driver.report_cancelled, before)
            except Exception:  # noqa: BLE001 - the cancel stands; only the report is missing
                log.exception("could not write the report of cancelled job %s", job_id, extra={"job_id": job_id})
        row = await asyncio.to_thread(self.lifecycle.cancel, job_id, summary=summary)
        if job_id in self._in_thread and task is not None:
            # The graph's thread ends at its next decide step; until then kill every container it
            # starts (one may be in creation right now, not yet known to the sandbox).
            asyncio.get_running_loop().create_task(self._kill_until_done(job_id, task))
        elif task is not None:
            task.cancel()  # still queued for a slot
        return row

    async def _kill_until_done(self, job_id: str, running: asyncio.Future[Any]) -> None:
        """Kill ``job_id``'s containers every KILL_INTERVAL_S until ``running`` (its run) is done."""
        while self.stop_container is not None:
            await asyncio.to_thread(self.stop_container, job_id)
            done, _ = await asyncio.wait({running}, timeout=KILL_INTERVAL_S)
            if done:
                return

    async def resume_or_wait(self, job: JobRow) -> Resume | None:
        """Whether ``job`` runs now (and with which decision), or stays as it is (see the module doc)."""
        if job.status in FINISHED:
            return None
        if job.cancel_requested:
            with suppress(Conflict):
                await asyncio.to_thread(self.lifecycle.cancel, job.id)
            return None
        paused = await asyncio.to_thread(self.driver.waiting_at, job)
        if paused is None:
            return Resume()
        for checkpoint in paused.checkpoints:
            decision = await asyncio.to_thread(get_decision, self.store, checkpoint.id)
            if decision is not None:
                return Resume(decision)
        # Still pending: recorded again (a row is written if the process died before it was,
        # and announced only then), and the job stays waiting.
        with suppress(Conflict):
            await asyncio.to_thread(self.lifecycle.pause, paused)
        return None

    async def recover(self) -> None:
        """Resume every job left unfinished by a previous process (see the module docstring)."""
        for status in ("running", "queued", "waiting"):
            for job in await asyncio.to_thread(list_jobs, self.store, status=status, limit=10_000):
                resume = await self.resume_or_wait(job)
                if resume is not None:
                    log.info("resuming job %s where it stopped", job.id, extra={"job_id": job.id})
                    self.submit(job.id, resume.decision)

    async def close(self) -> None:
        """Stop taking work; running jobs stay 'running' and :meth:`recover` resumes them on start."""
        self._closing = True
        for task in list(self._tasks.values()):
            task.cancel()


async def _in_daemon_thread(fn: Callable[[], T]) -> T:
    # Not asyncio.to_thread: its pool threads are joined at exit, and a graph thread waiting on a
    # container would hold the process open. A daemon thread lets a shutdown (or kill) be quick.
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=work, name="labloop-job", daemon=True).start()
    return await future


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
