"""``/v1/schedules``: cron schedules that start jobs from a template."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from services.api.deps import RuntimeDep, StoreDep, UserDep
from services.api.schemas import ScheduleCreate, ScheduleOut, SchedulePatch
from services.jobs import new_job
from services.schedules import check_cron, next_after
from services.store.schedules import (
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    update_schedule,
)

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])
ScheduleId = Annotated[str, Path(min_length=1, max_length=40)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut)
def add_schedule(body: ScheduleCreate, runtime: RuntimeDep, user: UserDep) -> ScheduleOut:
    """Create a schedule; its next run time is computed in its time zone."""
    store = runtime.store
    check_cron(body.cron)
    first = next_after(body.cron, body.timezone, datetime.now(UTC))
    new_job(store, runtime.settings, body.template, created_by=user)  # the task must exist and the budget fit
    row = create_schedule(
        store, cron=body.cron, timezone=body.timezone, template=body.template.model_dump(mode="json"),
        next_run_at=first if body.enabled else None, name=body.name, enabled=body.enabled,
        overlap=body.overlap, created_by=user,
    )
    return ScheduleOut.model_validate(row)


@router.get("", response_model=list[ScheduleOut])
def get_schedules(store: StoreDep) -> list[ScheduleOut]:
    """Every schedule with its next run time."""
    return [ScheduleOut.model_validate(row) for row in list_schedules(store)]


@router.get("/{schedule_id}", response_model=ScheduleOut)
def read_schedule(schedule_id: ScheduleId, store: StoreDep) -> ScheduleOut:
    """One schedule."""
    return ScheduleOut.model_validate(get_schedule(store, schedule_id))


@router.patch("/{schedule_id}", response_model=ScheduleOut)
def change_schedule(schedule_id: ScheduleId, body: SchedulePatch, runtime: RuntimeDep, user: UserDep) -> ScheduleOut:
    """Change fields; a new cron, zone or enabling recomputes the next run time."""
    store = runtime.store
    current = get_schedule(store, schedule_id)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, mode="json")
    changes = {k: v for k, v in changes.items() if v is not None}
    if body.template is not None:
        new_job(store, runtime.settings, body.template, created_by=user)
    cron, zone = changes.get("cron", current.cron), changes.get("timezone", current.timezone)
    check_cron(cron)
    enabled = changes.get("enabled", current.enabled)
    if {"cron", "timezone", "enabled"} & changes.keys():
        changes["next_run_at"] = next_after(cron, zone, datetime.now(UTC)) if enabled else None
    return ScheduleOut.model_validate(update_schedule(store, schedule_id, changes=changes))


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def remove_schedule(schedule_id: ScheduleId, store: StoreDep) -> Response:
    """Delete a schedule (the jobs it started stay)."""
    delete_schedule(store, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
