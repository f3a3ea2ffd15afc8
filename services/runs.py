"""The run manager (embedded profile): jobs as asyncio tasks, the synchronous graph in a thread.

    submit(job)  ─► queued ─(a slot frees)─► running ─► driver.advance() in a daemon thread
                                                        ├─ Pause  → checkpoint row, 'waiting', slot freed
                                                        └─ Finish → succeeded | failed | cancelled
    decide(checkpoint) ─► decision row (409 twice) ─► submit(job, decision) ─► resumes the graph

A job waiting at a checkpoint holds no task and no thread. On start-up :meth:`recover` resumes
every unfinished job from the graph's own checkpointer: a job paused at a decided checkpoint
resumes with that decision, one paused at a pending checkpoint stays waiting, the rest continue
where they stopped. A job cancelled while waiting gets its report from the driver at once, since
no thread of its graph is left to write it. Scale-out swaps :class:`JobDriver` calls for queue
submissions; see :class:`JobDriver` for the seam.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from services.errors import Conflict
from services.store import (
    create_checkpoint,
    decide_checkpoint,
    get_checkpoint,
    get_decision,
    get_job,
    list_checkpoints,
    list_jobs,
    set_job_status,
)
from services.store.jobs import FINISHED, request_cancel
from services.store.models import DecisionRow, JobRow, utcnow
from services.store.schedules import as_utc

log = logging.getLogger("labloop.runs")
T = TypeVar("T")
KILL_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Pause:
    """The graph stopped at a human checkpoint."""

    checkpoint_id: str
    kind: str
    payload: Mapping[str, Any]
    flagged: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Finish:
    """The graph reached its end (or failed, or was cancelled)."""

    status: Literal["succeeded", "failed", "cancelled"]
    summary: Mapping[str, Any] | None = None
    error: str | None = None


class JobDriver(Protocol):
    """Moves one job through the research graph; called from a worker thread.

    This is the seam for the scale-out profile: a queue worker calls the same two methods
    with a Postgres checkpointer; the run manager then only enqueues.
    """

    def waiting_at(self, job: JobRow) -> Pause | None:
        """The checkpoint the job's graph is paused at, read from the graph's checkpointer."""
        ...

    def report_cancelled(self, job: JobRow) -> None:
        """Write the final report of ``job``, cancelled while waiting (its graph never runs again)."""
        ...

    def advance(self, job: JobRow, *, decision: DecisionRow | None, cancelled: threading.Event) -> Pause | Finish:
        """Run until the next checkpoint or the end; ``decision`` answers the pending one.

        ``cancelled`` is set when the job is cancelled (its container is killed at the same
        time); the graph should end the job at its next decide step.
        """
        ...


Emit = Callable[[str, str, Mapping[str, Any]], None]


class RunManager:
    """Runs jobs as asyncio tasks in this process, at most ``limit`` at a time."""

    def __init__(
        self,
        *,
        store: Any,
        driver: JobDriver,
        emit: Emit,
        limit: int,
        stop_container: Callable[[str], object] | None = None,
        on_decided: Callable[[float], None] | None = None,
        on_resumed: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.driver = driver
        self.emit = emit
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
            await asyncio.to_thread(set_job_status, self.store, job_id, "running")
            log.info("job %s running%s", job_id, f" after {decision.action}" if decision else "",
                     extra={"job_id": job_id})
            if decision is not None and self.on_resumed is not None:
                self.on_resumed((utcnow() - as_utc(decision.decided_at)).total_seconds())
            await asyncio.to_thread(
                self.emit, job_id, "job.running", {"resumed_with": decision.action if decision else None}
            )
            self._in_thread.add(job_id)
            try:
                outcome = await _in_daemon_thread(
                    lambda: self.driver.advance(job, decision=decision, cancelled=cancelled)
                )
            except Exception as exc:  # noqa: BLE001 - any failure of the graph fails the job, loudly
                log.exception("job failed", extra={"job_id": job_id})
                outcome = Finish("failed", error=f"{type(exc).__name__}: {exc}")
            finally:
                self._in_thread.discard(job_id)
            await asyncio.to_thread(self._record, job_id, outcome)

    def _record(self, job_id: str, outcome: Pause | Finish) -> None:
        try:
            if isinstance(outcome, Pause):
                row = create_checkpoint(
                    self.store, checkpoint_id=outcome.checkpoint_id, job_id=job_id, kind=outcome.kind,
                    payload=dict(outcome.payload), flagged=list(outcome.flagged),
                )
                set_job_status(self.store, job_id, "waiting")
                log.info("job %s waiting at %s", job_id, row.id, extra={"job_id": job_id, "checkpoint_id": row.id})
                if row.status == "pending":
                    self.emit(job_id, "checkpoint.created", {"checkpoint_id": row.id, "kind": row.kind,
                                                             "flagged": list(outcome.flagged)})
                return
            summary = dict(outcome.summary) if outcome.summary is not None else None
            job = get_job(self.store, job_id)
            if job.cancel_requested:
                return  # cancel() recorded the end already
            finished = {"status": outcome.status, "error": outcome.error,
                        "llm_tokens": (summary or {}).get("llm_tokens", 0)}
            self.emit(job_id, "job.finished", finished)
            log.info("job %s %s", job_id, outcome.status, extra={"job_id": job_id})
            if job.status not in FINISHED:  # the driver may have recorded the end itself
                set_job_status(self.store, job_id, outcome.status, error=outcome.error, summary=summary)
        except Conflict:
            log.info("job finished meanwhile (cancelled); outcome dropped", extra={"job_id": job_id})

    async def decide(
        self, checkpoint_id: str, *, action: str, reason: str, edit: dict[str, Any] | None, by: str
    ) -> DecisionRow:
        """Record a decision (Conflict when made before) and resume its job at once."""
        checkpoint = await asyncio.to_thread(get_checkpoint, self.store, checkpoint_id)
        job = await asyncio.to_thread(get_job, self.store, checkpoint.job_id)
        if job.status in FINISHED:
            raise Conflict(f"job {job.id} already {job.status}; its checkpoints can no longer be decided")
        decision = await asyncio.to_thread(
            decide_checkpoint, self.store, checkpoint_id, action=action, reason=reason, edit=edit, by=by
        )
        if self.on_decided is not None:
            self.on_decided((as_utc(decision.decided_at) - as_utc(checkpoint.created_at)).total_seconds())
        await asyncio.to_thread(self.emit, job.id, "checkpoint.decided", {
            "checkpoint_id": checkpoint_id, "action": action, "reason": reason, "by": by})
        self.submit(job.id, decision)
        return decision

    async def cancel(self, job_id: str) -> JobRow:
        """Stop a job at once: its status (which closes its pending checkpoints), its container, then its thread.

        A job cancelled while waiting at a checkpoint gets its report written here, since no
        thread of its graph is left to write it.
        """
        before = await asyncio.to_thread(get_job, self.store, job_id)
        await asyncio.to_thread(request_cancel, self.store, job_id)
        self.stop_event(job_id).set()
        task = self._tasks.get(job_id)
        if before.status == "waiting" and task is None:  # its report goes before job.finished ends the streams
            try:
                await asyncio.to_thread(self.driver.report_cancelled, before)
            except Exception:  # noqa: BLE001 - the cancel stands; only the report is missing
                log.exception("could not write the report of cancelled job %s", job_id, extra={"job_id": job_id})
        await asyncio.to_thread(self.emit, job_id, "job.finished", {"status": "cancelled", "error": None})
        row = await asyncio.to_thread(set_job_status, self.store, job_id, "cancelled")
        if job_id in self._in_thread and task is not None:
            # The graph's thread ends at its next decide step; until then kill every container it
            # starts (one may be in creation right now, not yet known to the sandbox).
            asyncio.get_running_loop().create_task(self._kill_until_done(job_id, task))
        elif task is not None:
            task.cancel()  # still queued for a slot
        return row

    async def _kill_until_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        while self.stop_container is not None:
            await asyncio.to_thread(self.stop_container, job_id)
            done, _ = await asyncio.wait({task}, timeout=KILL_INTERVAL_S)
            if done:
                return

    async def recover(self) -> None:
        """Resume every job left unfinished by a previous process (see the module docstring)."""
        for status in ("running", "queued", "waiting"):
            for job in await asyncio.to_thread(list_jobs, self.store, status=status, limit=10_000):
                await self._recover_one(job)

    async def _recover_one(self, job: JobRow) -> None:
        if job.cancel_requested:
            await asyncio.to_thread(set_job_status, self.store, job.id, "cancelled")
            return
        pause = await asyncio.to_thread(self.driver.waiting_at, job)
        if pause is None:
            log.info("resuming job %s where it stopped", job.id, extra={"job_id": job.id})
            self.submit(job.id)
            return
        decision = await asyncio.to_thread(get_decision, self.store, pause.checkpoint_id)
        if decision is not None:
            self.submit(job.id, decision)
            return
        known = {c.id for c in await asyncio.to_thread(list_checkpoints, self.store, job_id=job.id, limit=10_000)}
        if pause.checkpoint_id in known:  # still pending, as it should be: nothing to announce again
            if job.status != "waiting":
                await asyncio.to_thread(set_job_status, self.store, job.id, "waiting")
        else:  # the process died between the interrupt and its checkpoint row
            await asyncio.to_thread(self._record, job.id, pause)

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
