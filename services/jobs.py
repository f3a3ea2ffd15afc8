"""What a job is made from, and :func:`new_job`: the one way the CLI, the API and schedules make one.

    JobTemplate {task, strategy, budget, gates, metric, paper}   POST /v1/jobs, a schedule's template, `labloop run`
        │  the task: an uploaded one by name (its newest version), or a folder (the CLI); an AI
        │  Scientist template takes its metric from the job (kept in the job's task_fields)
        │  the budget: the task's own, with the template's fields over it, validated as a Budget
        │  the strategy: llm with no LLM endpoint configured falls back to search, said in the notes;
        │  search on a task with no solution file (it starts from data) is refused: only llm drafts
        ▼
    new_job() ─► a queued JobRow (not stored: the lifecycle stores it, or a schedule's firing)

``BudgetPatch`` is derived from the task's :class:`~agents.task.Budget`: every field of a
budget may be set per job, with the same bounds, and strict types (a number, never a string of one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from agents.context import DEFAULT_GATES, GateKind, GatePolicy, Strategy
from agents.drafting import missing_solution, no_baseline_message
from agents.errors import InvalidInput
from agents.task import (
    TASK_NAME,
    Budget,
    EnvironmentSpec,
    Metric,
    SandboxSpec,
    Task,
    folder_requirements,
    load_task,
)
from agents.template import SEED_NOTE, folder_reader, is_template, reads_seed
from services.settings import Settings
from services.statuses import INITIAL
from services.store.db import Store
from services.store.jobs import new_job_id
from services.store.models import JobRow, utcnow
from services.store.tasks import get_task

NO_LLM_NOTICE = ("no LLM endpoint is configured (set LABLOOP_LLM_BASE_URL or LABLOOP_LLM_API_KEY), "
                 "so this job uses the search strategy")


def _every_field_optional(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional (None: keep the task's value), bounds kept."""
    fields: dict[str, Any] = {
        field: (Optional[info.annotation], FieldInfo.merge_field_infos(info, default=None))  # noqa: UP045
        for field, info in model.model_fields.items()
    }
    return create_model(name, __config__=ConfigDict(extra="forbid", strict=True),
                        __doc__="Budget fields that override the task's own budget (every field optional).",
                        **fields)


if TYPE_CHECKING:
    BudgetPatch = Budget
else:
    BudgetPatch = _every_field_optional(Budget, "BudgetPatch")


class JobTemplate(BaseModel):
    """The body of POST /v1/jobs and the template of a schedule.

    Strict types: ``"iterations": "4"`` is refused (422 naming ``budget.iterations``), not read as 4;
    a client that sends the wrong type has a bug worth hearing about."""

    model_config = ConfigDict(extra="forbid", strict=True)

    task: str = Field(pattern=TASK_NAME, description="Name of an uploaded task (its newest version runs).")
    strategy: Strategy = "search"
    budget: BudgetPatch = Field(default_factory=BudgetPatch)
    gates: dict[GateKind, GatePolicy] = Field(default_factory=dict)
    paper: bool = Field(False, description=(
        "After the report, write the results up as a paper (runs/JOB/paper/: paper.md, paper.pdf, "
        "review.json), its numbers rendered from the journal; the paper gate decides its publication."))
    metric: Metric | None = Field(None, description=(
        "For an AI Scientist template (experiment.py, prompt.json; no task.yaml): the metric of its "
        "final_info.json means to optimise, e.g. {\"name\": \"loss\", \"direction\": \"minimize\"}."))

    def task_fields(self) -> dict[str, Any]:
        """The task fields the job gives a template (none for a task with task.yaml)."""
        return {"metric": self.metric.model_dump()} if self.metric is not None else {}


def template(**fields: Any) -> JobTemplate:
    """A template from loose fields (the CLI's options); InvalidInput naming the bad field."""
    try:
        return JobTemplate.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "job"
        raise InvalidInput(f"{where}: {err['msg']}") from exc


def default_strategy(settings: Settings) -> Strategy:
    """The strategy of a job that names none on the command line: llm when an endpoint is configured."""
    return "llm" if settings.llm_configured else "search"


def _stored_task(spec: dict[str, Any]) -> Task | None:
    """An uploaded version's task from its stored spec (None for one stored by an older labloop that no
    longer validates: the job's baseline step checks the same again when it runs)."""
    try:
        return Task.model_validate(spec)
    except ValidationError:
        return None


def _refuse_without_solution(task: Task, task_dir: Path, *, asked: Strategy) -> None:
    """A search job on a task that starts from data has nothing to tune: refused, saying what to do."""
    missing = missing_solution(task, task_dir)
    if missing is None:
        return
    why = (" and no LLM endpoint is configured (set LABLOOP_LLM_BASE_URL), so the job would use the search "
           "strategy, which needs one to tune" if asked == "llm" else ", and the search strategy needs one to tune")
    raise InvalidInput(no_baseline_message(task, missing, why=why))


def new_job(
    store: Store, settings: Settings, job: JobTemplate, *, created_by: str, folder: Path | None = None,
    schedule_id: str | None = None,
) -> JobRow:
    """A queued job (not yet stored) for ``job.task``: the newest uploaded version, or ``folder``.

    InvalidInput when the budget does not fit, the task's requirements are more than package
    names, versions and markers, or the job would search a task with no solution to tune;
    NotFound when no task has that name. Strategy ``llm`` with no LLM endpoint configured
    becomes ``search``, and the job's notes say so.
    """
    fields = job.task_fields()
    if folder is not None:
        folder = folder.resolve()
        task = load_task(folder, fields=fields)
        if task.name != job.task:
            raise InvalidInput(f"the task in {folder} is {task.name!r}, not {job.task!r}")
        task_dir, base_budget = str(folder), task.budget.model_dump(exclude_defaults=True)
        spec: Task | None = task
        sandbox_spec = task.sandbox
        # Names, versions and markers only, refused before the job exists (the driver and the
        # environment build check them again before pip runs).
        task.requirements(folder)
    else:
        uploaded = get_task(store, job.task)
        task_dir, base_budget = uploaded.path, dict(uploaded.spec.get("budget") or {})
        spec = _stored_task(uploaded.spec)
        sandbox_spec = SandboxSpec.model_validate(uploaded.spec.get("sandbox") or {})
        if fields:
            load_task(task_dir, fields=fields)  # a metric for a task with task.yaml is refused, naming why
        environment = uploaded.spec.get("environment")
        # A version stored before requirements were checked is checked now.
        folder_requirements(Path(task_dir), EnvironmentSpec.model_validate(environment) if environment else None)
    merged = {**base_budget, **job.budget.model_dump(exclude_none=True)}
    try:
        budget = Budget.model_validate(merged).model_dump(mode="json")
    except ValidationError as exc:
        raise InvalidInput(f"budget is invalid: {exc.errors()[0]['msg']}") from exc
    # Refused here, before the job exists, rather than at its baseline; the sandbox checks
    # every run again, whatever path it came by.
    settings.sandbox_policy().check(sandbox_spec.limits(budget["experiment_timeout_s"]))
    strategy, notes = job.strategy, []
    if strategy == "llm" and not settings.llm_configured:
        strategy, notes = "search", [NO_LLM_NOTICE]
    if strategy == "search" and spec is not None:
        _refuse_without_solution(spec, Path(task_dir), asked=job.strategy)
    if is_template(task_dir) and not reads_seed(folder_reader(Path(task_dir))):
        notes.append(SEED_NOTE)
    return JobRow(
        id=new_job_id(), task_name=job.task, task_dir=task_dir, strategy=strategy, status=INITIAL, budget=budget,
        gates={**DEFAULT_GATES, **job.gates}, paper=job.paper, notes=notes, task_fields=fields or None,
        created_by=created_by, schedule_id=schedule_id, cancel_requested=False, created_at=utcnow(),
    )
