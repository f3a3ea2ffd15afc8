"""A job killed with kill -9 mid-experiment continues with `labloop resume` and records each experiment once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from services.settings import Settings
from services.store import events_after, list_experiments, list_jobs, open_store
from tests.agents.conftest import QUAD_SPACE, QUADRATIC, make_task

LABLOOP = str(Path(sys.executable).parent / "labloop")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABLOOP_", "OPENAI_"))}
    # No warm pool: a killed process would leave its pooled containers waiting for their expiry.
    return {**env, "LABLOOP_HOME": str(home), "LABLOOP_SANDBOX_POOL_SIZE": "0", "LABLOOP_SANDBOX_EXPIRY_S": "600"}


@pytest.fixture
def leftovers(docker_client: docker.DockerClient, home: Path) -> Iterator[None]:
    """Remove the containers of the killed process (the test's own, found by their slot folder)."""
    yield
    for container in docker_client.containers.list(all=True, filters={"label": "labloop.service=labloop"}):
        if any(str(home) in m.get("Source", "") for m in container.attrs.get("Mounts", [])):
            container.remove(force=True)


def _running_events(store: object, job_id: str) -> Counter[str]:
    events = events_after(store, job_id, 0, limit=100_000)  # type: ignore[arg-type]
    return Counter(e.data["id"] for e in events if e.kind == "experiment" and e.data.get("status") == "running")


def test_a_job_killed_mid_experiment_resumes_and_records_each_experiment_once(
    tmp_path: Path, home: Path, settings: Settings, leftovers: None
) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE,
                     budget={"iterations": 2}, extra={"slow.txt": "1.5"})
    cmd = [LABLOOP, "run", str(task), "--strategy", "search", "--auto-approve", "--no-memory", "--json"]
    proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    in_flight = None
    with open_store(settings.db_url) as store:
        deadline = time.monotonic() + 180
        while in_flight is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            jobs = list_jobs(store)
            if not jobs:
                continue
            rows = list_experiments(store, jobs[0].id)
            done = [r for r in rows if r.status == "succeeded"]
            running = [r for r in rows if r.status == "running"]
            if len(done) >= 2 and running:  # baseline and a candidate finished, another one is running
                in_flight = running[0].id
        assert in_flight is not None, f"no experiment was caught running: {proc.stderr and proc.stderr.read()!r}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        job_id = jobs[0].id
        finished_before = {r.id for r in list_experiments(store, job_id) if r.status == "succeeded"}
        assert in_flight not in finished_before and list_jobs(store)[0].status == "running"

        resumed = subprocess.run([LABLOOP, "resume", job_id, "--auto-approve", "--no-memory", "--json"],
                                 env=_env(home), capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout)
        rows = list_experiments(store, job_id)
        runs = _running_events(store, job_id)

    assert summary["status"] == "succeeded" and summary["job_id"] == job_id
    assert summary["experiments"] == len(rows) == len({r.id for r in rows})
    assert all(r.status == "succeeded" for r in rows)
    assert all(runs[i] == 1 for i in finished_before)  # no finished experiment ran again
    assert runs[in_flight] == 2  # the one in flight was run again
    assert set(runs) == {r.id for r in rows}
    assert sum(1 for r in rows if r.role == "candidate") == 2
    assert Path(summary["report"]).is_file()
