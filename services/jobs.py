"""What a job is made from: a template (task, strategy, budget, gates) checked against the task.

POST /v1/jobs and every schedule firing build their job here, so both accept the same shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import InvalidInput
from agents.task import Budget
from services.store.db import Store
from services.store.jobs import new_job_id
from services.store.models import JobRow, utcnow
from services.store.tasks import get_task

GatePolicy = Literal["always", "never", "auto"]
GateKind = Literal["idea", "code", "finding"]
TASK_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class BudgetPatch(BaseModel):
    """Budget fields that override the task's own budget (every field optional)."""

    model_config = ConfigDict(extra="forbid")

    iterations: int | None = Field(None, ge=1, le=10_000)
    experiment_timeout_s: float | None = Field(None, gt=0, le=86_400)
    debug_attempts: int | None = Field(None, ge=0, le=20)
    llm_tokens: int | None = Field(None, ge=0, le=10**9)
    wall_clock_s: float | None = Field(None, gt=0, le=30 * 86_400)


class JobTemplate(BaseModel):
    """The body of POST /v1/jobs and the template of a schedule."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(pattern=TASK_NAME, description="Name of an uploaded task (its newest version runs).")
    strategy: Literal["search", "llm"] = "search"
    budget: BudgetPatch = Field(default_factory=BudgetPatch)
    gates: dict[GateKind, GatePolicy] = Field(default_factory=dict)


def build_job(
    store: Store, *, template: JobTemplate, created_by: str, schedule_id: str | None = None
) -> JobRow:
    """A queued job (not yet stored) for the newest version of the template's task."""
    task = get_task(store, template.task)
    merged: dict[str, Any] = {**task.spec.get("budget", {}), **template.budget.model_dump(exclude_none=True)}
    try:
        budget = Budget.model_validate(merged).model_dump(mode="json")
    except ValidationError as exc:
        raise InvalidInput(f"budget is invalid: {exc.errors()[0]['msg']}") from exc
    return JobRow(
        id=new_job_id(),
        task_name=task.name,
        task_dir=task.path,
        strategy=template.strategy,
        status="queued",
        budget=budget,
        gates={"idea": "auto", "code": "auto", "finding": "auto", **template.gates},
        created_by=created_by,
        schedule_id=schedule_id,
        cancel_requested=False,
        created_at=utcnow(),
    )


def save_job(store: Store, job: JobRow) -> JobRow:
    """Store a job built by :func:`build_job`."""
    with store.session() as session:
        session.add(job)
    return job
