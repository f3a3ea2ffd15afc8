"""A job on a task with requirements runs in its environment; a bad requirement fails it early.

``labloop run`` in a subprocess with its own home, the real sandbox and the real package index
(fetched by the host's pip): the environment is built before the baseline, its progress goes
to the terminal and to the job's events, and a package that cannot be fetched fails the job
before any experiment runs, naming the package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from services.store import events_after, list_experiments, open_store
from tests.services.conftest import LABLOOP, ROOT

pytestmark = pytest.mark.docker


def _run(task: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABLOOP_HOME": str(home), "LABLOOP_SANDBOX_POOL_SIZE": "0"}
    for name in ("LABLOOP_LLM_BASE_URL", "LABLOOP_LLM_API_KEY", "OPENAI_API_KEY"):
        env.pop(name, None)
    return subprocess.run([*LABLOOP, "run", str(task), "--strategy", "search", "--iterations", "1",
                           "--auto-approve", "--json"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=900, stdin=subprocess.DEVNULL)


def test_a_job_runs_in_its_task_environment(sandbox_image: str, tmp_path: Path) -> None:
    done = _run(ROOT / "tasks" / "mcmc", tmp_path / "home")

    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["status"] == "succeeded"
    assert summary["baseline"]["mean_error"] is not None  # emcee imported inside the sandbox
    assert "environment:" in done.stderr  # progress on the terminal
    store = open_store(f"sqlite:///{tmp_path / 'home' / 'labloop.db'}")
    try:
        kinds = [event.kind for event in events_after(store, summary["job_id"])]
    finally:
        store.close()
    assert "environment" in kinds and "experiment" in kinds  # ... and in the job's events,
    assert kinds.index("environment") < kinds.index("node") < kinds.index("experiment")  # before the baseline


def test_a_misspelt_requirement_fails_the_job_before_its_baseline(sandbox_image: str, tmp_path: Path) -> None:
    task = tmp_path / "typo"
    shutil.copytree(ROOT / "tasks" / "mcmc", task)
    (task / "requirements.txt").write_text("emceee-no-such-package==3.1.6\n")

    done = _run(task, tmp_path / "home")

    assert done.returncode != 0
    summary = json.loads(done.stdout)
    assert summary["status"] == "failed"
    assert "'emceee-no-such-package==3.1.6' could not be fetched" in done.stderr + json.dumps(summary)
    store = open_store(f"sqlite:///{tmp_path / 'home' / 'labloop.db'}")
    try:
        assert list_experiments(store, summary["job_id"]) == []  # failed before the baseline
    finally:
        store.close()
