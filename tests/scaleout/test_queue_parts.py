"""The queue's parts against the real Postgres, without Docker: schema, deferring, stalled jobs, wake-ups."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.event_wakeups import listen_for_events
from services.queue import defer_run, ensure_schema, queue_app, retry_stalled
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
