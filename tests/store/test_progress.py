"""The job list's progress, read in grouped queries, on each real backend (SQLite and Postgres)."""

from __future__ import annotations

from typing import Any

from services.store import Store
from services.store.models import CheckpointRow, ExperimentRow, JobRow, TaskRow, utcnow
from services.store.progress import jobs_progress, task_version


def _job(store: Store, job_id: str, direction: str, runs: list[tuple[str, int, int, str, Any]],
         gates: list[tuple[int, str]]) -> JobRow:
    now = utcnow()
    path = f"/home/tasks/t-{direction}/v3"
    with store.session() as session:
        session.add(TaskRow(name=f"t-{direction}", version=3, path=path, created_at=now,
                            spec={"name": "t", "metric": {"name": "loss", "direction": direction}}))
        job = JobRow(id=job_id, task_name=f"t-{direction}", task_dir=path, strategy="search", status="waiting",
                     budget={"iterations": 5}, gates={}, created_by="alice", cancel_requested=False, created_at=now)
        session.add(job)
        session.flush()
        for n, (role, iteration, seed, status, value) in enumerate(runs):
            metrics = {} if value is None else {"loss": value, "other": 100.0}
            session.add(ExperimentRow(id=f"{job_id}-{n}", job_id=job_id, iteration=iteration, role=role, params={},
                                      seed=seed, status=status, result={"metrics": metrics, "stdout_tail": "x" * 500},
                                      created_at=now, updated_at=now))
        for n, (iteration, status) in enumerate(gates):
            session.add(CheckpointRow(id=f"{job_id}-cp{n}", job_id=job_id, kind="code", status=status,
                                      payload={"iteration": iteration}, flagged=[], created_at=now))
    return job


def test_progress_counts_runs_and_gates_and_picks_the_best_by_direction(store: Store) -> None:
    runs = [("baseline", 0, 0, "succeeded", 2.0), ("baseline", 0, 1, "succeeded", 0.1),  # a baseline replicate
            ("candidate", 1, 0, "succeeded", 1.5), ("replicate", 1, 1, "succeeded", 0.2),  # evidence, not a best
            ("candidate", 2, 0, "failed", None), ("debug", 2, 0, "succeeded", 1.2)]
    low = _job(store, "job-low", "minimize", runs, gates=[(2, "decided"), (3, "pending")])
    high = _job(store, "job-high", "maximize", runs, gates=[])
    quiet = JobRow(id="job-none", task_name="gone", task_dir="/somewhere/local", budget={})

    progress = jobs_progress(store, [low, high, quiet])

    assert progress["job-low"] == {
        "iteration": 3, "iterations": 5, "experiments": 6, "failed": 1, "metric": "loss", "direction": "minimize",
        "baseline": 2.0, "best": 1.2, "pending_checkpoints": 1}
    assert progress["job-high"]["best"] == 2.0 and progress["job-high"]["iteration"] == 2
    assert progress["job-high"]["pending_checkpoints"] == 0
    assert progress["job-none"]["experiments"] == 0 and progress["job-none"]["best"] is None
    assert jobs_progress(store, []) == {}


def test_the_task_version_is_read_from_the_job_s_task_folder() -> None:
    assert task_version("/home/.labloop/tasks/digits/v12") == 12
    assert task_version("tasks/digits") is None and task_version("/x/vx") is None
