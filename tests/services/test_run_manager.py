"""The run manager's own rules, with a scripted driver over a real app database (no graph, no Docker).

The driver stands in for the graph so each rule can be forced: the concurrency limit, a decision
that arrives while the run that paused is still being recorded, and recovery after a restart.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.lifecycle import Lifecycle
from services.outcomes import Checkpoint, Finished, Paused
from services.runs import RunManager
from services.store import (
    Store,
    create_job,
    events_after,
    get_decision,
    get_job,
    list_checkpoints,
    open_store,
)
from services.store.models import JobRow


class ScriptedDriver:
    """Pauses each job once at a checkpoint, then finishes with the decision recorded for it.

    ``write_row_first`` writes the checkpoint's row from the job's thread before the pause is
    returned, so a test can decide it before the run manager has recorded the pause.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.gate = threading.Event()
        self.gate.set()
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.on_pause: Any = None
        self.paused: dict[str, Checkpoint] = {}
        self.reported: list[str] = []

    def waiting_at(self, job: JobRow) -> Paused | None:
        return Paused((self.paused[job.id],)) if job.id in self.paused else None

    def report_cancelled(self, job: JobRow) -> dict[str, Any] | None:
        self.reported.append(job.id)
        return None

    def drive(self, job: JobRow, *, stop: Any) -> Paused | Finished:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.gate.wait(10)
            if job.id not in self.paused:
                checkpoint = Checkpoint(f"{job.id}-1-code-0", job.id, "code", {"diff": "+x"}, ["imports socket"])
                self.paused[job.id] = checkpoint
                if self.on_pause is not None:
                    self.on_pause(checkpoint)
                return Paused((checkpoint,))
            decision = get_decision(self.store, self.paused[job.id].id)
            assert decision is not None
            self.paused.pop(job.id)
            return Finished(job.id, "succeeded", summary={"decided": decision.action})
        finally:
            with self.lock:
                self.running -= 1


class _Unheard:
    """A journal whose events nobody sees (they were announced by a process that is gone)."""

    def record_experiment(self, record: object) -> None:
        return None

    def emit(self, job_id: str, kind: str, data: object) -> None:
        return None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'labloop.db'}") as opened:
        yield opened


def _manager(store: Store, driver: ScriptedDriver, limit: int = 2) -> RunManager:
    return RunManager(store=store, driver=driver, lifecycle=Lifecycle(store), limit=limit)


def _job(store: Store, status: str = "queued") -> str:
    return create_job(store, task_name="t", task_dir="/t", strategy="search", status=status).id


async def _until(predicate: Any, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def test_at_most_limit_jobs_run_and_waiting_jobs_hold_no_slot(store: Store) -> None:
    async def scenario() -> None:
        driver = ScriptedDriver(store)
        driver.gate.clear()
        runs = _manager(store, driver, limit=2)
        jobs = [_job(store) for _ in range(4)]
        for job_id in jobs:
            runs.submit(job_id)
        await _until(lambda: driver.running == 2)
        await asyncio.sleep(0.2)
        assert sorted(get_job(store, j).status for j in jobs) == ["queued", "queued", "running", "running"]
        driver.gate.set()
        await _until(lambda: all(get_job(store, j).status == "waiting" for j in jobs))
        # The status is written just before each task returns, so give the tasks a moment to end.
        await _until(lambda: runs.active() == [])  # all four wait, none holds a task
        assert driver.most == 2
        for job_id in jobs:
            await runs.decide(f"{job_id}-1-code-0", action="approve", reason="", edit=None, by="alice")
        await _until(lambda: all(get_job(store, j).status == "succeeded" for j in jobs))
        assert driver.most == 2

    asyncio.run(scenario())


def test_a_decision_that_beats_the_recording_of_its_pause_still_resumes_the_job(store: Store) -> None:
    async def scenario() -> None:
        driver = ScriptedDriver(store)
        runs = _manager(store, driver)
        loop = asyncio.get_running_loop()

        def decide_at_once(checkpoint: Checkpoint) -> None:  # in the job's thread, before the manager saw the pause
            Lifecycle(store).pause(Paused((checkpoint,)))  # as if another process had recorded it already
            asyncio.run_coroutine_threadsafe(
                runs.decide(checkpoint.id, action="approve", reason="", edit=None, by="bob"), loop
            ).result(10)

        driver.on_pause = decide_at_once
        job_id = _job(store)
        runs.submit(job_id)
        await _until(lambda: get_job(store, job_id).status == "succeeded")
        assert get_job(store, job_id).summary == {"decided": "approve"}
        kinds = [e.kind for e in events_after(store, job_id)]
        assert kinds.count("job.finished") == 1 and kinds.count("checkpoint.decided") == 1

    asyncio.run(scenario())


def test_recovery_resumes_running_and_decided_jobs_and_leaves_pending_ones_waiting(store: Store) -> None:
    driver = ScriptedDriver(store)
    interrupted = _job(store, status="running")  # was mid-node when the process died
    pending = _job(store, status="waiting")
    decided = _job(store, status="waiting")  # decided, but the process died before resuming it
    before = Lifecycle(store, journal=_Unheard())  # what the previous process recorded and announced
    for job_id in (pending, decided):
        driver.paused[job_id] = Checkpoint(f"{job_id}-1-code-0", job_id, "code", {}, [])
        before.pause(Paused((driver.paused[job_id],)))
    before.decide(f"{decided}-1-code-0", action="approve", by="alice")

    async def scenario() -> None:
        runs = _manager(store, driver)
        await runs.recover()
        await _until(lambda: get_job(store, decided).status == "succeeded")
        await _until(lambda: get_job(store, interrupted).status == "waiting")  # ran on, to its checkpoint
        assert get_job(store, pending).status == "waiting"
        assert [c.status for c in list_checkpoints(store, job_id=pending, status=None)] == ["pending"]
        assert [e.kind for e in events_after(store, pending)] == []  # nothing announced twice

    asyncio.run(scenario())


def test_cancel_asks_for_the_report_only_of_a_job_that_was_waiting(store: Store) -> None:
    async def scenario() -> None:
        driver = ScriptedDriver(store)
        runs = _manager(store, driver)
        waiting, queued = _job(store), _job(store)
        runs.submit(waiting)
        await _until(lambda: get_job(store, waiting).status == "waiting" and runs.active() == [])
        assert (await runs.cancel(waiting)).status == "cancelled"
        assert (await runs.cancel(queued)).status == "cancelled"
        assert driver.reported == [waiting]  # the queued job never ran: it has nothing to report
        assert [c.status for c in list_checkpoints(store, job_id=waiting, status=None)] == ["cancelled"]

    asyncio.run(scenario())
