"""`labloop sandbox doctor | run` from the outside, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[2]
LABLOOP = [sys.executable, "-c", "from services.cli import main; main()"]


def _labloop(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LABLOOP_HOME": str(tmp_path / "home"), **env}
    return subprocess.run([*LABLOOP, *args], cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)


def test_doctor_reports_engine_limits_and_image(sandbox_image: str, tmp_path: Path) -> None:
    done = _labloop("sandbox", "doctor", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "engine: ok" in done.stdout
    assert "memory yes, memory+swap yes, pids yes, cpu yes" in done.stdout
    assert f"image: {sandbox_image} present, built by the" in done.stdout and "up to date" in done.stdout
    assert "smoke run: a trivial experiment ran in a fresh container" in done.stdout
    assert done.stdout.strip().endswith("sandbox: ready")


def test_doctor_fails_with_a_fix_when_the_image_is_missing(docker_client: object, tmp_path: Path) -> None:
    done = _labloop("sandbox", "doctor", tmp_path=tmp_path, LABLOOP_SANDBOX_IMAGE="labloop-absent:none")
    assert done.returncode == 1
    assert "image: labloop-absent:none MISSING" in done.stdout
    assert "labloop sandbox build" in done.stderr


def test_doctor_fails_with_a_fix_when_no_engine_answers(tmp_path: Path) -> None:
    done = _labloop("sandbox", "doctor", tmp_path=tmp_path, DOCKER_HOST=f"unix://{tmp_path}/no.sock")
    assert done.returncode == 1
    assert "NOT REACHABLE" in done.stdout and "scripts/ensure-docker.sh" in done.stdout


def test_sandbox_run_digits_prints_the_result_object(sandbox_image: str, tmp_path: Path) -> None:
    done = _labloop(
        "sandbox", "run", str(REPO / "tasks" / "digits"), "--json",
        "--params", '{"C": 10, "gamma": 0.001}', "--seed", "3", tmp_path=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {
        "status", "exit_code", "duration_s", "metrics", "stdout_tail", "stderr_tail", "error", "artifacts",
        "notes", "self_reported",
    }
    assert result["self_reported"] is None  # no grader: the experiment's own numbers are the metrics
    assert result["status"] == "succeeded" and result["error"] is None
    assert result["metrics"]["accuracy"] > 0.95
    assert "seed=3" in result["stdout_tail"] and "'C': 10" in result["stdout_tail"]
    assert [a["path"] for a in result["artifacts"]] == ["confusion.png"]
    assert "running digits" in done.stderr and "accuracy=" in done.stderr  # progress on stderr


def test_sandbox_run_refuses_bad_params(tmp_path: Path) -> None:
    done = _labloop("sandbox", "run", str(REPO / "tasks" / "digits"), "--params", "[1]", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "--params must be a JSON object" in done.stderr
