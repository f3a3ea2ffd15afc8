"""The scheduler: cron expressions in an IANA time zone fire jobs from a template.

Times come from croniter, evaluated in the schedule's zone (so '0 9 * * *' is 09:00 local,
across daylight-saving changes) and stored in UTC. Each tick looks at enabled schedules whose
``next_run_at`` has come. A firing is one row keyed by (schedule, due time), written in the same
transaction as its job (made by :func:`services.jobs.new_job`, like any other) and the schedule's
next run time: a restart, or a second scheduler,
can never fire the same time twice. When the server was down, only the newest missed time
fires, and only if it is within ``schedule_grace_s``; older ones are recorded as 'missed'.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from agents.errors import InvalidInput, LabloopError
from services.jobs import JobTemplate, new_job
from services.settings import Settings
from services.store.db import Store
from services.store.models import ScheduleRow
from services.store.schedules import as_utc, due_schedules, fire_schedule, update_schedule

log = logging.getLogger("labloop.schedules")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; InvalidInput when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise InvalidInput(f"timezone {name!r} is not an IANA zone name such as 'Europe/Berlin' or 'UTC'") from exc


def check_cron(expression: str) -> str:
    """``expression`` when it is a valid five-field cron expression; InvalidInput otherwise."""
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise InvalidInput(f"cron {expression!r} is not a five-field cron expression such as '0 9 * * 1-5'")
    return expression


def next_after(expression: str, timezone: str, moment: datetime) -> datetime:
    """The first time strictly after ``moment`` that the schedule is due, in UTC."""
    local = as_utc(moment).astimezone(zone(timezone))
    try:
        return as_utc(croniter(expression, local).get_next(datetime))
    except (CroniterError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"cron {expression!r} never comes due ({exc}); check day and month") from exc


def newest_due(expression: str, timezone: str, first_due: datetime, now: datetime) -> datetime:
    """The newest due time in [first_due, now] (the one a catch-up fires)."""
    latest = as_utc(croniter(expression, as_utc(now).astimezone(zone(timezone)) + timedelta(seconds=1))
                    .get_prev(datetime))
    return max(as_utc(first_due), latest)


class Scheduler:
    """Fires due schedules every ``tick_s`` seconds and hands new jobs to ``submit``."""

    def __init__(
        self, *, store: Store, settings: Settings, submit: Callable[[str], None], grace_s: float, tick_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings
        self.submit = submit
        self.grace = timedelta(seconds=grace_s)
        self.tick_s = tick_s
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start ticking in the running event loop (the first tick runs at once)."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="labloop-scheduler")

    async def close(self) -> None:
        """Stop ticking."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                for job_id in await asyncio.to_thread(self.tick):
                    self.submit(job_id)
            except Exception:  # noqa: BLE001 - a bad tick must not stop the scheduler
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.tick_s)

    def tick(self, now: datetime | None = None) -> list[str]:
        """Fire every due schedule once; return the ids of the jobs created."""
        now = as_utc(now or self.clock())
        started = []
        for schedule in due_schedules(self.store, now=now):
            job_id = self._fire(schedule, now)
            if job_id is not None:
                started.append(job_id)
        return started

    def _fire(self, schedule: ScheduleRow, now: datetime) -> str | None:
        assert schedule.next_run_at is not None
        due = newest_due(schedule.cron, schedule.timezone, schedule.next_run_at, now)
        following = next_after(schedule.cron, schedule.timezone, max(due, now))
        outcome = "fired" if now - due <= self.grace else "missed"
        job = None
        if outcome == "fired":
            try:
                job = new_job(
                    self.store, self.settings, JobTemplate.model_validate(schedule.template),
                    created_by=f"schedule:{schedule.id}", schedule_id=schedule.id,
                )
            except LabloopError as exc:  # e.g. its task was never uploaded: record, go on
                log.warning("schedule %s cannot fire: %s", schedule.id, exc)
                outcome = "failed"
        firing = fire_schedule(
            self.store, schedule_id=schedule.id, due_at=due, next_run_at=following, job=job, outcome=outcome
        )
        if firing is None:  # fired before (another process, or before a restart)
            update_schedule(self.store, schedule.id, changes={"next_run_at": following})
            return None
        log.info("schedule %s %s for %s", schedule.id, firing.outcome, due.isoformat(),
                 extra={"job_id": firing.job_id})
        return firing.job_id
