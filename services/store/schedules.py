"""Cron schedules and their firings; a firing row per (schedule, due time) makes firing exactly-once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.errors import NotFound
from services.statuses import FINISHED
from services.store.db import Store
from services.store.models import FiringRow, JobRow, ScheduleRow, utcnow

EDITABLE = ("name", "cron", "timezone", "template", "enabled", "overlap", "next_run_at")


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; naive values (SQLite keeps no zone) are taken as UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def create_schedule(
    store: Store,
    *,
    cron: str,
    timezone: str,
    template: dict[str, Any],
    next_run_at: datetime | None,
    name: str = "",
    enabled: bool = True,
    overlap: str = "skip",
    created_by: str = "api",
) -> ScheduleRow:
    """Record a new schedule and return it."""
    row = ScheduleRow(
        id="sch-" + uuid.uuid4().hex[:12],
        name=name,
        cron=cron,
        timezone=timezone,
        template=template,
        enabled=enabled,
        overlap=overlap,
        next_run_at=as_utc(next_run_at) if next_run_at else None,
        created_by=created_by,
        created_at=utcnow(),
    )
    with store.session() as session:
        session.add(row)
    return row


def get_schedule(store: Store, schedule_id: str) -> ScheduleRow:
    """The schedule ``schedule_id``; NotFound when there is none."""
    with store.session() as session:
        row = session.get(ScheduleRow, schedule_id)
    if row is None:
        raise NotFound(f"no schedule {schedule_id!r}; list them with GET /v1/schedules")
    return row


def list_schedules(store: Store, *, limit: int = 100) -> list[ScheduleRow]:
    """Schedules, oldest first."""
    with store.session() as session:
        return list(session.scalars(select(ScheduleRow).order_by(ScheduleRow.created_at).limit(limit)))


def update_schedule(store: Store, schedule_id: str, *, changes: dict[str, Any]) -> ScheduleRow:
    """Apply ``changes`` (only the editable fields) to a schedule and return it."""
    with store.session() as session:
        row = session.get(ScheduleRow, schedule_id)
        if row is None:
            raise NotFound(f"no schedule {schedule_id!r}")
        for key, value in changes.items():
            if key not in EDITABLE:
                raise ValueError(f"schedule field {key!r} is not editable")
            setattr(row, key, as_utc(value) if isinstance(value, datetime) else value)
    return row


def delete_schedule(store: Store, schedule_id: str) -> None:
    """Delete a schedule and its firings (jobs it started stay)."""
    with store.session() as session:
        row = session.get(ScheduleRow, schedule_id)
        if row is None:
            raise NotFound(f"no schedule {schedule_id!r}")
        for firing in session.scalars(select(FiringRow).where(FiringRow.schedule_id == schedule_id)):
            session.delete(firing)
        session.delete(row)


def due_schedules(store: Store, *, now: datetime) -> list[ScheduleRow]:
    """Enabled schedules whose next run time has come."""
    query = select(ScheduleRow).where(
        ScheduleRow.enabled.is_(True),
        ScheduleRow.next_run_at.is_not(None),
        ScheduleRow.next_run_at <= as_utc(now),
    )
    with store.session() as session:
        return list(session.scalars(query.order_by(ScheduleRow.next_run_at)))


def list_firings(store: Store, schedule_id: str) -> list[FiringRow]:
    """Every firing of a schedule, oldest first."""
    with store.session() as session:
        return list(
            session.scalars(
                select(FiringRow).where(FiringRow.schedule_id == schedule_id).order_by(FiringRow.due_at)
            )
        )


def fire_schedule(
    store: Store,
    *,
    schedule_id: str,
    due_at: datetime,
    next_run_at: datetime | None,
    job: JobRow | None,
    outcome: str = "fired",
) -> FiringRow | None:
    """Record one firing, the job it starts, and the schedule's next run, all or nothing.

    ``job`` is created unless ``outcome`` is not 'fired' or the schedule skips overlaps and its
    previous job is still unfinished (then the outcome is 'skipped'). Returns None when this
    firing was already recorded (by an earlier run of the server or another scheduler).
    """
    due = as_utc(due_at)
    try:
        with store.session() as session:
            schedule = session.get(ScheduleRow, schedule_id)
            if schedule is None:
                raise NotFound(f"no schedule {schedule_id!r}")
            if outcome == "fired" and schedule.overlap == "skip" and schedule.last_job_id:
                previous = session.get(JobRow, schedule.last_job_id)
                if previous is not None and previous.status not in FINISHED:
                    outcome = "skipped"
            firing = FiringRow(schedule_id=schedule_id, due_at=due, outcome=outcome, at=utcnow())
            if outcome == "fired" and job is not None:
                session.add(job)
                firing.job_id = job.id
                schedule.last_job_id = job.id
                schedule.last_fired_at = utcnow()
            session.add(firing)
            schedule.next_run_at = as_utc(next_run_at) if next_run_at else None
            session.flush()
    except IntegrityError:
        return None
    return firing
