"""Schedules: cron times in a zone, exactly one job per firing across restarts, catch-up, overlap."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.jobs import NO_LLM_NOTICE, JobTemplate
from services.lifecycle import Lifecycle
from services.schedules import Scheduler, next_after
from services.settings import Settings
from services.store import Store, get_job, list_jobs, open_store
from services.store.schedules import create_schedule, get_schedule, list_firings, update_schedule
from services.store.tasks import add_task_version
from tests.services.conftest import ServerFactory, task_files, upload, wait_for
from tests.utils.databases import database_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The app database with one uploaded task, on each real backend."""
    with database_url(request.param, tmp_path) as url, open_store(url) as opened:
        add_task_version(opened, name="quick", version=1, path=str(tmp_path / "quick"),
                         spec={"name": "quick", "budget": {"iterations": 2}})
        yield opened


def _scheduler(store: Store, grace_s: float = 3600) -> Scheduler:
    return Scheduler(store=store, settings=Settings(llm_base_url=None, llm_api_key=None), submit=lambda _job: None,
                     grace_s=grace_s, tick_s=60)


def _schedule(store: Store, due: datetime, **kw: object) -> str:
    template = JobTemplate(task="quick", budget={"iterations": 1}).model_dump(mode="json")  # type: ignore[arg-type]
    return create_schedule(store, cron="0 * * * *", timezone="UTC", template=template, next_run_at=due,
                           **kw).id  # type: ignore[arg-type]


def test_next_run_times_follow_the_zone_across_daylight_saving() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
    winter = next_after("0 9 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=UTC))
    summer = next_after("0 9 * * *", "Europe/Berlin", datetime(2026, 3, 29, 12, tzinfo=UTC))
    assert winter == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert summer == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert next_after("*/15 * * * *", "UTC", datetime(2026, 1, 1, 10, 15, tzinfo=UTC)) == datetime(
        2026, 1, 1, 10, 30, tzinfo=UTC)


def test_a_firing_makes_exactly_one_job_even_when_two_schedulers_race(store: Store) -> None:
    due = datetime(2026, 5, 1, 10, tzinfo=UTC)
    sid = _schedule(store, due)
    now = due + timedelta(seconds=5)
    first = _scheduler(store).tick(now)
    # A second scheduler (or the same one after a restart) that still saw the old next_run_at:
    update_schedule(store, sid, changes={"next_run_at": due})
    second = _scheduler(store).tick(now)
    assert len(first) == 1 and second == []
    job = get_job(store, first[0])
    assert job.schedule_id == sid and job.budget["iterations"] == 1 and job.created_by == f"schedule:{sid}"
    assert [f.outcome for f in list_firings(store, sid)] == ["fired"]
    schedule = get_schedule(store, sid)
    assert schedule.last_job_id == job.id
    assert schedule.next_run_at is not None and schedule.next_run_at.replace(tzinfo=UTC) == due + timedelta(hours=1)


def test_missed_firings_run_once_within_the_grace_period_and_never_beyond(store: Store) -> None:
    due = datetime(2026, 5, 1, 10, tzinfo=UTC)
    within = _schedule(store, due)
    # The server was down from 10:00 to 12:30: 10:00, 11:00 and 12:00 were missed; only 12:00 runs.
    started = _scheduler(store, grace_s=3600).tick(due + timedelta(hours=2, minutes=30))
    assert len(started) == 1
    firings = list_firings(store, within)
    assert [(f.due_at.replace(tzinfo=UTC).hour, f.outcome) for f in firings] == [(12, "fired")]
    beyond = _schedule(store, due)
    assert _scheduler(store, grace_s=60).tick(due + timedelta(minutes=30)) == []
    assert [f.outcome for f in list_firings(store, beyond)] == ["missed"]
    assert get_schedule(store, beyond).next_run_at is not None


def test_overlap_skip_waits_for_the_previous_job(store: Store) -> None:
    due = datetime(2026, 5, 1, 10, tzinfo=UTC)
    sid = _schedule(store, due, overlap="skip")
    allow = _schedule(store, due, overlap="allow")
    scheduler = _scheduler(store)
    assert len(scheduler.tick(due)) == 2
    assert len(scheduler.tick(due + timedelta(hours=1))) == 1  # only 'allow' fires: sid's job is queued
    assert [f.outcome for f in list_firings(store, sid)] == ["fired", "skipped"]
    last = get_schedule(store, sid).last_job_id or ""
    Lifecycle(store).move(last, "running")
    Lifecycle(store).move(last, "succeeded")
    assert len(scheduler.tick(due + timedelta(hours=2))) == 2
    assert len(list_jobs(store)) == 5 and len(list_firings(store, allow)) == 3


def test_a_schedule_for_an_llm_job_with_no_endpoint_fires_a_search_job_that_says_so(store: Store) -> None:
    due = datetime(2026, 5, 1, 10, tzinfo=UTC)
    template = JobTemplate(task="quick", strategy="llm", paper=True).model_dump(mode="json")
    create_schedule(store, cron="0 * * * *", timezone="UTC", template=template, next_run_at=due)
    (job_id,) = _scheduler(store).tick(due)
    job = get_job(store, job_id)
    assert (job.strategy, job.notes, job.status) == ("search", [NO_LLM_NOTICE], "queued")
    assert job.paper is True  # the template's write-up carries over to every job it fires


def test_a_due_schedule_fires_once_on_the_server_even_across_a_restart(make_server: ServerFactory) -> None:
    server = make_server().start()
    client = server.client()
    upload(client, task_files("quick"))
    created = client.post("/v1/schedules", json={
        "cron": "0 3 * * *", "timezone": "Asia/Tokyo", "name": "nightly",
        "template": {"task": "quick", "gates": {"idea": "always"}}})
    assert created.status_code == 201, created.text
    schedule = created.json()
    sid = schedule["id"]
    next_run = datetime.fromisoformat(schedule["next_run_at"])
    assert next_run > datetime.now(UTC) and next_run.hour == 18  # 03:00 in Tokyo is 18:00 UTC
    paused = client.patch(f"/v1/schedules/{sid}", json={"enabled": False}).json()
    assert paused["enabled"] is False and paused["next_run_at"] is None
    # Make it due now: the database is the scheduler's only input, so no test waits for a minute.
    with server.store() as store:
        update_schedule(store, sid, changes={"enabled": True, "next_run_at": datetime.now(UTC) - timedelta(seconds=1)})
    jobs = wait_for(lambda: [j for j in client.get("/v1/jobs").json() if j["schedule_id"] == sid],
                    timeout=20, what="the scheduled job", server=server)
    assert len(jobs) == 1 and jobs[0]["gates"]["idea"] == "always"
    shown = client.get(f"/v1/schedules/{sid}").json()
    assert shown["last_job_id"] == jobs[0]["id"] and datetime.fromisoformat(shown["next_run_at"]) > datetime.now(UTC)
    server.kill()
    with server.store() as store:  # as if the process died before it advanced next_run_at
        due = list_firings(store, sid)[0].due_at
        update_schedule(store, sid, changes={"next_run_at": due})
    restarted = make_server(server.home).start()
    wait_for(lambda: get_schedule(restarted.store(), sid).next_run_at != due, timeout=20, what="a tick")
    again = [j for j in restarted.client().get("/v1/jobs").json() if j["schedule_id"] == sid]
    assert [j["id"] for j in again] == [jobs[0]["id"]]
    assert restarted.client().delete(f"/v1/schedules/{sid}").status_code == 204
    assert restarted.client().get(f"/v1/schedules/{sid}").status_code == 404
