"""The server's sandbox policy refuses a greedy task when a job is made, on every entry point."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.services.conftest import (
    LABLOOP,
    Server,
    ServerFactory,
    free_port,
    server_env,
    task_files,
    upload,
)

GREEDY = {"cpus": 1.0, "memory": "64g", "network": "bridge"}


def _greedy_files() -> dict[str, str]:
    files = task_files("greedy")
    spec = yaml.safe_load(files["task.yaml"])
    spec["sandbox"] = GREEDY
    return {**files, "task.yaml": yaml.safe_dump(spec)}


def test_the_api_refuses_a_job_over_the_policy_naming_each_setting(make_server: ServerFactory) -> None:
    server: Server = make_server(LABLOOP_SANDBOX_MAX_MEMORY="2g").start()
    upload(server.client(), _greedy_files())

    reply = server.client().post("/v1/jobs", json={"task": "greedy"})

    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "sandbox_policy"
    assert "LABLOOP_SANDBOX_ALLOW_NETWORK" in error["message"] and "LABLOOP_SANDBOX_MAX_MEMORY" in error["message"]
    assert server.client().get("/v1/jobs").json() == []  # nothing was stored


def test_the_cli_refuses_the_same_task_before_making_a_job(tmp_path: Path) -> None:
    folder = tmp_path / "greedy"
    folder.mkdir()
    for rel, text in _greedy_files().items():
        (folder / rel).write_text(text)
    env = server_env(tmp_path / "home", free_port(), LABLOOP_SANDBOX_MAX_MEMORY="2g")

    done = subprocess.run([*LABLOOP, "run", str(folder), "--auto-approve"], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)

    assert done.returncode != 0
    assert "LABLOOP_SANDBOX_ALLOW_NETWORK" in done.stderr and "LABLOOP_SANDBOX_MAX_MEMORY" in done.stderr
    assert "Traceback" not in done.stderr
