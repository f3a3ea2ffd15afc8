"""The queue's parts against the real Postgres, without Docker: schema, deferring, stalled jobs, wake-ups,
retries, and checkpointers set up by several processes at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from procrastinate import JobContext
from procrastinate.jobs import Job

from services.checkpointer import open_checkpointer
from services.event_wakeups import listen_for_events
from services.queue import (
    CONTEXT_KEY,
    RUN_JOB,
    TAKE_ATTEMPTS,
    _Retry,
    defer_run,
    ensure_schema,
    queue_app,
    retry_stalled,
    run_job,
)
from services.settings import Settings
from services.store import append_event, create_job, open_store
from tests.utils.databases import postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    with postgres_database() as url:
        yield Settings(home=tmp_path, database_url=url, executor="queue")


def _statuses(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT args->>'job_id', status::text FROM procrastinate_jobs ORDER BY id").fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_processes_starting_together_create_the_queue_once(settings: Settings) -> None:
    async def start_three() -> list[bool]:
        return list(await asyncio.gather(*(ensure_schema(settings) for _ in range(3))))

    assert sorted(asyncio.run(start_three())) == [False, False, True]
    assert asyncio.run(ensure_schema(settings)) is False


def test_one_waiting_request_per_job_and_a_dead_workers_job_goes_back_to_the_queue(settings: Settings) -> None:
    url = str(settings.database_url)

    async def scenario() -> tuple[list[str], list[str]]:
        await ensure_schema(settings)
        async with queue_app(settings).open_async() as app:
            assert await defer_run(app, "job-a") is True
            assert await defer_run(app, "job-a") is False  # already waiting: one is enough
            assert await defer_run(app, "job-b") is True
            dead = await app.job_manager.register_worker()
            for _ in range(2):
                assert await app.job_manager.fetch_job(None, worker_id=dead) is not None  # both 'doing'
            # job-b got a new request while its (soon dead) worker was still running it
            assert await defer_run(app, "job-b") is True
            assert await retry_stalled(app, stalled_s=30) == []  # the worker is alive
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")
            retried = await retry_stalled(app, stalled_s=30)
            again = await retry_stalled(app, stalled_s=30)
        return retried, again

    retried, again = asyncio.run(scenario())
    assert sorted(retried) == ["job-a", "job-b"] and again == []
    # job-a is back to 'todo'; job-b's stalled request was closed (its newer one will do the work)
    assert _statuses(url) == [("job-a", "todo"), ("job-b", "failed"), ("job-b", "todo")]


def test_an_event_written_by_another_process_wakes_the_listener_at_once(settings: Settings) -> None:
    url = str(settings.database_url)
    woken: list[tuple[str, float]] = []
    got = threading.Event()

    def wake(job_id: str) -> None:
        woken.append((job_id, time.monotonic()))
        got.set()

    with open_store(url) as store:
        job = create_job(store, task_name="t", task_dir="/t", strategy="search")
        libpq = url.replace("postgresql+psycopg://", "postgresql://")
        with listen_for_events(libpq, wake) as listening:
            assert listening.wait(10)
            written = time.monotonic()
            append_event(store, job.id, "node", {"phase": "started"})  # another connection, as a worker's
            assert got.wait(5)
    assert woken[0][0] == job.id and woken[0][1] - written < 1.0


def test_checkpointers_opened_at_once_on_a_fresh_database_all_open(settings: Settings) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            with open_checkpointer(settings) as saver:
                assert saver.get_tuple({"configurable": {"thread_id": "none", "checkpoint_ns": ""}}) is None
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_a_job_that_cannot_be_taken_is_retried_then_fails_with_the_reason() -> None:
    class Stuck:
        def __init__(self) -> None:
            self.given_up: list[str] = []

        async def take(self, job_id: str) -> None:
            raise RuntimeError("checkpointer unreachable")

        async def give_up(self, job_id: str, exc: Exception) -> None:
            self.given_up.append(f"{job_id}: {exc}")

    worker = Stuck()
    strategy = _Retry()

    def context(attempts: int) -> JobContext:
        job = Job(id=1, queue="default", lock="job-x", queueing_lock="job-x", task_name=RUN_JOB,
                  task_kwargs={"job_id": "job-x"}, attempts=attempts)
        return JobContext(app=None, job=job, additional_context={CONTEXT_KEY: worker},  # type: ignore[arg-type]
                          start_timestamp=time.time(), abort_reason=lambda: None)

    for attempts in range(TAKE_ATTEMPTS):
        with pytest.raises(RuntimeError):
            asyncio.run(run_job(context(attempts), "job-x"))
        assert strategy.get_retry_decision(exception=RuntimeError(), job=context(attempts).job) is not None
    asyncio.run(run_job(context(TAKE_ATTEMPTS), "job-x"))
    assert worker.given_up == ["job-x: checkpointer unreachable"]
    # A shutdown's abort always goes back to the queue, however often it happened.
    assert strategy.get_retry_decision(exception=asyncio.CancelledError(), job=context(99).job) is not None
