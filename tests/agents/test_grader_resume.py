"""kill -9 while a grader runs: the resume grades that experiment again, runs nothing twice and
counts every experiment once (a run is finished only once it is graded)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import yaml

from agents.experiments import RESULT_FILE
from agents.grading import OWN_RESULT_FILE
from services.settings import Settings
from services.store import events_after, list_experiments, list_jobs, open_store
from tests.agents.test_resume import LABLOOP, _env, leftovers  # noqa: F401  (the fixture removes the killed run's containers)
from tests.utils.graded import make_graded_task


def _statuses(store: object, job_id: str, status: str) -> Counter[str]:
    events = events_after(store, job_id, 0, limit=100_000)  # type: ignore[arg-type]
    return Counter(e.data["id"] for e in events if e.kind == "experiment" and e.data.get("status") == status)


def test_kill_9_during_a_grader_run_resumes_without_running_or_counting_anything_twice(
    tmp_path: Path, home: Path, settings: Settings, leftovers: None  # noqa: F811
) -> None:
    task = make_graded_task(tmp_path / "graded", budget={"iterations": 2}, extra={"slow_grader.txt": "3"})
    spec = yaml.safe_load((task / "task.yaml").read_text())
    spec["params"] = {"k": {"choices": ["a", "b", "c"]}}  # the search strategy needs a space; predict.py ignores it
    (task / "task.yaml").write_text(yaml.safe_dump(spec))
    cmd = [LABLOOP, "run", str(task), "--strategy", "search", "--auto-approve", "--no-memory", "--json"]
    proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    grading = job_id = None
    with open_store(settings.db_url) as store:
        deadline = time.monotonic() + 240
        while grading is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            jobs = list_jobs(store)
            if not jobs:
                continue
            job_id = jobs[0].id
            graded = [i for i in _statuses(store, job_id, "grading") if "candidate" in i]
            grading = graded[0] if graded else None
        assert grading is not None and job_id is not None, f"no grader was caught running: {proc.stderr and proc.stderr.read()!r}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        exp_dir = settings.runs_dir / job_id / grading
        assert (exp_dir / OWN_RESULT_FILE).is_file() and not (exp_dir / RESULT_FILE).is_file()  # killed mid-grading
        before = {r.id: r.status for r in list_experiments(store, job_id)}
        assert before[grading] == "running"

        resumed = subprocess.run([LABLOOP, "resume", job_id, "--auto-approve", "--no-memory", "--json"],
                                 env=_env(home), capture_output=True, text=True, timeout=400)
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout)
        rows = {r.id: r for r in list_experiments(store, job_id)}
        started, graded_runs = _statuses(store, job_id, "running"), _statuses(store, job_id, "grading")

    assert summary["status"] == "succeeded"
    assert summary["experiments"] == len(rows)  # every experiment counted once
    assert all(n == 1 for n in started.values()) and set(started) == set(rows)  # no experiment ran twice
    assert graded_runs[grading] == 2  # only the cut-short grading ran again
    assert all(n == 1 for i, n in graded_runs.items() if i != grading)
    result = rows[grading].result or {}
    assert rows[grading].status == "succeeded" and result["metrics"]["accuracy"] == 0.5
    assert result["self_reported"] == {"accuracy": 0.5}
