"""A search job on a task with no solution file is refused wherever jobs are made: API, schedules, CLI."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import httpx
import pytest
import yaml

from tests.services.conftest import LABLOOP, ROOT, Server, upload

pytestmark = pytest.mark.docker

SPEC = {
    "name": "fromdata", "goal": "Fit y from x.", "metric": {"name": "score", "direction": "maximize"},
    "entrypoint": "python3 experiment.py", "params": {"x": {"low": 0.0, "high": 1.0}},
    "budget": {"iterations": 1, "experiment_timeout_s": 60},
}
FILES = {"task.yaml": yaml.safe_dump(SPEC), "data.csv": "x,y\n1,2\n", "data_description.txt": "y = 2x\n"}


def _refused(reply: httpx.Response, *also: str) -> str:
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    message = str(body["error"]["message"])
    for part in ("task 'fromdata' has no baseline", "experiment.py", "is not in the task folder",
                 "--strategy llm", "add experiment.py", *also):
        assert part in message, message
    return message


def test_the_api_refuses_a_search_job_or_schedule_on_a_task_that_starts_from_data(server: Server) -> None:
    client = server.client()
    upload(client, FILES)  # a task without its solution uploads fine: an llm job drafts one
    jobs_before = client.get("/v1/jobs").json()

    _refused(client.post("/v1/jobs", json={"task": "fromdata"}), "the search strategy needs one")
    _refused(client.post("/v1/jobs", json={"task": "fromdata", "strategy": "search"}))
    # This server has no LLM endpoint, so llm would fall back to search: refused, saying how to configure one.
    _refused(client.post("/v1/jobs", json={"task": "fromdata", "strategy": "llm"}),
             "no LLM endpoint is configured (set LABLOOP_LLM_BASE_URL)")
    _refused(client.post("/v1/schedules", json={"cron": "0 3 * * *", "template": {"task": "fromdata"}}))

    assert client.get("/v1/jobs").json() == jobs_before  # nothing was made
    assert client.get("/v1/schedules").json() == []
    with_solution = {**FILES, "experiment.py": "print('a solution')\n"}
    upload(client, with_solution)  # a new version with its solution: search may run it
    assert client.post("/v1/jobs", json={"task": "fromdata"}).status_code == 201


def _labloop(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABLOOP_") and k != "OPENAI_API_KEY"}
    env["LABLOOP_HOME"] = str(home)
    return subprocess.run([*LABLOOP, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_cli_refuses_to_search_or_sandbox_run_a_task_that_starts_from_data(tmp_path: Path) -> None:
    task = tmp_path / "fromdata"
    task.mkdir()
    for rel, text in FILES.items():
        (task / rel).write_text(textwrap.dedent(text))

    searched = _labloop("run", str(task), "--strategy", "search", "--no-memory", home=tmp_path / "home")
    assert searched.returncode == 2, searched.stderr
    assert "error: task 'fromdata' has no baseline" in searched.stderr
    assert "the search strategy needs one to tune" in searched.stderr and "--strategy llm" in searched.stderr
    assert "job " not in searched.stderr  # refused before a job was created

    ran = _labloop("sandbox", "run", str(task), home=tmp_path / "home")
    assert ran.returncode == 2, ran.stderr
    assert "error: task 'fromdata' has no baseline" in ran.stderr
    assert "`labloop sandbox run` has no experiment to run" in ran.stderr and "add experiment.py" in ran.stderr
