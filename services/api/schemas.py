"""Request and response bodies of the /v1 API (pydantic; they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from agents.checkpoints import (
    CodePayload,
    FindingPayload,
    HumanDecision,
    IdeaPayload,
    PaperPayload,
    read_payload,
)
from services.jobs import JobTemplate
from services.statuses import CheckpointStatus, JobStatus
from services.store.schedules import as_utc

Utc = Annotated[datetime, AfterValidator(as_utc)]


class _In(BaseModel):
    """A request body: unknown fields and loosely typed values (``"4"`` for 4, ``"true"``) are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TaskUpload(_In):
    """A task folder as text files by relative path (task.yaml required, or an AI Scientist template:
    experiment.py, prompt.json and a labloop.yaml that names it)."""

    files: dict[str, str] = Field(description="Relative path → file text, e.g. {'task.yaml': '...'}")


class TaskOut(_Out):
    """One version of a task."""

    name: str
    version: int
    spec: dict[str, Any]
    created_at: Utc
    versions: list[int] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)


class JobCreate(JobTemplate):
    """The body of POST /v1/jobs: every field but ``task`` is optional."""


class JobProgressOut(BaseModel):
    """How far a job has got (the job list): iteration of the budget, experiments, baseline, best."""

    iteration: int
    iterations: int | None
    experiments: int
    failed: int
    metric: str | None
    direction: str | None
    baseline: float | None = Field(description="The baseline's metric (seed 0).")
    best: float | None = Field(description="The best metric of any succeeded run so far (replicates aside).")
    pending_checkpoints: int


class JobOut(_Out):
    """A research job."""

    id: str
    task_name: str
    strategy: str
    status: JobStatus
    budget: dict[str, Any]
    gates: dict[str, Any]
    paper: bool = Field(False, description="The job ends with a write-up: runs/JOB/paper/ (GET /v1/jobs/ID/paper).")
    notes: list[str] = Field(default_factory=list, description="How the job was set up, e.g. the llm → search fallback.")
    task_fields: dict[str, Any] | None = Field(None, description=(
        "The task fields given with the job for an AI Scientist template, e.g. {\"metric\": {...}}."))
    created_by: str
    schedule_id: str | None
    error: str | None
    summary: dict[str, Any] | None
    cancel_requested: bool
    created_at: Utc
    started_at: Utc | None
    finished_at: Utc | None
    task_version: int | None = Field(None, description="The task version the job runs (GET /v1/tasks/NAME?version=N).")
    progress: JobProgressOut | None = Field(None, description="Set in the job list (GET /v1/jobs).")


class ExperimentOut(_Out):
    """One sandboxed run of a job."""

    id: str
    job_id: str
    iteration: int
    role: str
    params: dict[str, Any]
    seed: int
    status: str
    idea_title: str
    diff: str
    result: dict[str, Any] | None
    duration_s: float | None
    writes: int
    created_at: Utc
    updated_at: Utc


class DecisionCreate(HumanDecision):
    """A human decision at a checkpoint (the checkpoint contract's :class:`~agents.checkpoints.HumanDecision`)."""


class DecisionOut(_Out):
    """A decision as recorded: what, why, by whom and when."""

    checkpoint_id: str
    job_id: str
    action: str
    reason: str
    edit: dict[str, Any] | None
    decided_by: str
    decided_at: Utc


class _CheckpointOut(_Out):
    id: str
    job_id: str
    status: CheckpointStatus
    flagged: list[Any] = Field(description="Why the auto policy asked a human (empty under 'always').")
    created_at: Utc
    decided_at: Utc | None
    decision: DecisionOut | None = None


class IdeaCheckpointOut(_CheckpointOut):
    """An idea checkpoint: the idea a branch would try, before it is implemented."""

    kind: Literal["idea"]
    payload: IdeaPayload


class CodeCheckpointOut(_CheckpointOut):
    """A code checkpoint: the change that would run, with its idea, explanation, diffs and the results to beat."""

    kind: Literal["code"]
    payload: CodePayload


class FindingCheckpointOut(_CheckpointOut):
    """A finding checkpoint: a verified finding's evidence and critique, before it is accepted."""

    kind: Literal["finding"]
    payload: FindingPayload


class PaperCheckpointOut(_CheckpointOut):
    """A paper checkpoint: the write-up with its claim check and automated reviews, before it is published."""

    kind: Literal["paper"]
    payload: PaperPayload


AnyCheckpointOut = IdeaCheckpointOut | CodeCheckpointOut | FindingCheckpointOut | PaperCheckpointOut
CheckpointOut = Annotated[AnyCheckpointOut, Field(discriminator="kind")]
"""A human checkpoint, one shape per ``kind`` (the OpenAPI schema documents each payload)."""
CHECKPOINT_OUT: TypeAdapter[AnyCheckpointOut] = TypeAdapter(CheckpointOut)


def checkpoint_view(row: Any, decision: Any = None) -> AnyCheckpointOut:
    """A stored checkpoint row as the API shows it; its payload read through the contract, so a
    payload stored by older code (without the newer fields) still reads."""
    return CHECKPOINT_OUT.validate_python({
        "id": row.id, "job_id": row.job_id, "kind": row.kind, "status": row.status,
        "payload": read_payload(row.kind, row.payload), "flagged": list(row.flagged or []),
        "created_at": row.created_at, "decided_at": row.decided_at,
        "decision": DecisionOut.model_validate(decision) if decision is not None else None,
    })


class ScheduleCreate(_In):
    """A cron schedule: when (cron + IANA zone) and what (a job template)."""

    cron: str = Field(max_length=128, description="Five-field cron expression, e.g. '0 9 * * 1-5'.")
    timezone: str = Field("UTC", max_length=64, description="IANA time zone, e.g. 'Europe/Berlin'.")
    template: JobTemplate
    name: str = Field("", max_length=128)
    enabled: bool = True
    overlap: Literal["skip", "allow"] = Field("skip", description="Skip a firing while the last job runs.")


class SchedulePatch(_In):
    """Fields of a schedule to change."""

    cron: str | None = Field(None, max_length=128)
    timezone: str | None = Field(None, max_length=64)
    template: JobTemplate | None = None
    name: str | None = Field(None, max_length=128)
    enabled: bool | None = None
    overlap: Literal["skip", "allow"] | None = None


class ScheduleOut(_Out):
    """A schedule with its next run time."""

    id: str
    name: str
    cron: str
    timezone: str
    template: dict[str, Any]
    enabled: bool
    overlap: str
    next_run_at: Utc | None
    last_fired_at: Utc | None
    last_job_id: str | None
    created_by: str
    created_at: Utc


class FindingOut(BaseModel):
    """A memory record (finding, idea, feedback or literature note)."""

    id: str
    kind: str
    text: str
    metadata: dict[str, Any]
    distance: float | None = None


class ErrorDetail(BaseModel):
    """What went wrong and what to do."""

    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error response of the API."""

    error: ErrorDetail
