"""How far each job has got, for the job list: iteration, experiments, baseline, best, pending checkpoints.

Read in four grouped queries for a whole page of jobs (not one per job), so the list stays one
cheap request however many jobs it shows. The values come from the recorded experiments, so a
running job has them too (its summary is only written when it ends).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any, TypedDict

from sqlalchemy import case, func, select

from services.store.db import Store
from services.store.models import CheckpointRow, ExperimentRow, JobRow, TaskRow

REPLICATE_ROLES = ("replicate",)
"""Re-runs of a candidate with other seeds: evidence for verification, not a new best."""


class JobProgress(TypedDict):
    """A job's progress as the list shows it (values None until known)."""

    iteration: int
    iterations: int | None
    experiments: int
    failed: int
    metric: str | None
    direction: str | None
    baseline: float | None
    best: float | None
    pending_checkpoints: int


def task_version(task_dir: str) -> int | None:
    """The task version a job runs, from its folder (``…/tasks/NAME/vN``); None for a local folder."""
    name = PurePath(task_dir).name
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else None


def _number(metrics: Any, name: str | None) -> float | None:
    value = metrics.get(name) if isinstance(metrics, dict) and name else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def jobs_progress(store: Store, jobs: Sequence[JobRow]) -> dict[str, JobProgress]:
    """The progress of each of ``jobs`` by job id."""
    ids = [job.id for job in jobs]
    if not ids:
        return {}
    failed = func.sum(case((ExperimentRow.status != "succeeded", 1), else_=0))
    counts = select(ExperimentRow.job_id, func.count(), func.max(ExperimentRow.iteration), failed).where(
        ExperimentRow.job_id.in_(ids)).group_by(ExperimentRow.job_id)
    # A job waiting at a gate has reached the gate's iteration before any experiment of it ran.
    waiting = func.sum(case((CheckpointRow.status == "pending", 1), else_=0))
    asked = select(CheckpointRow.job_id, waiting, func.max(CheckpointRow.payload["iteration"].as_integer())).where(
        CheckpointRow.job_id.in_(ids)).group_by(CheckpointRow.job_id)
    specs = select(TaskRow.path, TaskRow.spec).where(TaskRow.path.in_({job.task_dir for job in jobs}))
    # Only the metrics object of each succeeded run, not its output tails.
    values = select(ExperimentRow.job_id, ExperimentRow.role, ExperimentRow.seed,
                    ExperimentRow.result["metrics"]).where(
        ExperimentRow.job_id.in_(ids), ExperimentRow.status == "succeeded",
        ExperimentRow.role.not_in(REPLICATE_ROLES))
    with store.session() as session:
        count_rows = {row[0]: row[1:] for row in session.execute(counts)}
        asked_rows = {row[0]: row[1:] for row in session.execute(asked)}
        spec_rows: dict[str, Any] = dict(session.execute(specs).tuples().all())
        value_rows = session.execute(values).all()
    out: dict[str, JobProgress] = {}
    for job in jobs:
        metric = (job.task_fields or {}).get("metric") or (spec_rows.get(job.task_dir) or {}).get("metric") or {}
        n, last, bad = count_rows.get(job.id, (0, 0, 0))
        pending, gate = asked_rows.get(job.id, (0, 0))
        out[job.id] = JobProgress(
            iteration=max(int(last or 0), int(gate or 0)), iterations=(job.budget or {}).get("iterations"),
            experiments=int(n or 0), failed=int(bad or 0), metric=metric.get("name"),
            direction=metric.get("direction"), baseline=None, best=None,
            pending_checkpoints=int(pending or 0))
    for job_id, role, seed, metrics in value_rows:
        progress = out[job_id]
        value = _number(metrics, progress["metric"])
        if value is None:
            continue
        if role == "baseline" and seed == 0:
            progress["baseline"] = value
        if role == "baseline" and seed != 0:
            continue
        best = progress["best"]
        lower = progress["direction"] == "minimize"
        if best is None or (value < best if lower else value > best):
            progress["best"] = value
    return out
