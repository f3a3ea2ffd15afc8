"""A run's read-only inputs (``$LABLOOP_SUBMISSION``), and `labloop sandbox run` on a graded task."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from sandbox.runner import DockerSandbox
from tests.sandbox.conftest import make_request
from tests.sandbox.test_sandbox_cli import _labloop
from tests.utils.graded import GRADER_FILE, SECRET, make_graded_task

pytestmark = pytest.mark.docker

# Reads the submission, then tries every way to change it; reports what happened.
PROBE = """
import json, os
from pathlib import Path
sub = Path(os.environ["LABLOOP_SUBMISSION"])
report = {"text": (sub / "predictions.csv").read_text(), "nested": (sub / "deep" / "x.txt").read_text(),
          "listing": sorted(p.name for p in sub.iterdir())}
attempts = {
    "write": lambda: (sub / "predictions.csv").write_text("hacked"),
    "create": lambda: (sub / "new.txt").write_text("x"),
    "remove": lambda: (sub / "predictions.csv").unlink(),
    "rename": lambda: (sub / "predictions.csv").rename(sub / "moved.csv"),
    "chmod": lambda: os.chmod(sub / "predictions.csv", 0o777),
    "mkdir": lambda: (sub / "deep" / "more").mkdir(),
}
for name, attempt in attempts.items():
    try:
        attempt()
        report[name] = "done"
    except OSError as exc:
        report[name] = type(exc).__name__
Path(os.environ["LABLOOP_OUTPUT"], "probe.json").write_text(json.dumps(report))
Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({"ok": 1}))
"""


def test_inputs_are_readable_at_labloop_submission_and_cannot_be_changed(
    docker_sandbox: DockerSandbox, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs"
    (inputs / "deep").mkdir(parents=True)
    (inputs / "predictions.csv").write_text("0\n1\n")
    (inputs / "deep" / "x.txt").write_text("nested")
    os.symlink("/etc/passwd", inputs / "link")  # never followed into the run
    request = dataclasses.replace(make_request(tmp_path / "run", PROBE, metric="ok"), inputs=inputs)
    result = docker_sandbox.run(request)
    assert result.succeeded, result.error
    probe = json.loads((tmp_path / "run" / "output" / "probe.json").read_text())
    assert probe["text"] == "0\n1\n" and probe["nested"] == "nested"
    assert probe["listing"] == ["deep", "predictions.csv"]
    assert {k: probe[k] for k in ("write", "create", "remove", "rename", "chmod", "mkdir")} == dict.fromkeys(
        ("write", "create", "remove", "rename", "chmod", "mkdir"), "OSError")  # EROFS, every one
    assert (inputs / "predictions.csv").read_text() == "0\n1\n"  # the host's copy is untouched


def test_a_run_without_inputs_has_no_submission(docker_sandbox: DockerSandbox, tmp_path: Path) -> None:
    code = """
import json, os
from pathlib import Path
seen = {"env": "LABLOOP_SUBMISSION" in os.environ, "files": os.listdir("/submission")}
Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({"ok": 1}))
print(json.dumps(seen))
"""
    result = docker_sandbox.run(make_request(tmp_path / "run", code, metric="ok"))
    assert result.succeeded, result.error
    assert json.loads(result.stdout_tail.strip()) == {"env": False, "files": []}


def test_sandbox_run_grades_a_graded_task_and_prints_both_metric_sets(sandbox_image: str, tmp_path: Path) -> None:
    cheat = ("import json, os\nfrom pathlib import Path\nout = Path(os.environ['LABLOOP_OUTPUT'])\n"
             "(out / 'predictions.csv').write_text('0\\n1\\n0\\n0\\n')\n"
             "(out / 'metrics.json').write_text(json.dumps({'accuracy': 1.0}))\n")
    task = make_graded_task(tmp_path / "graded", code=cheat)
    done = _labloop("sandbox", "run", str(task), "--seed", "4", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "graded metric accuracy = 0.75" in done.stdout and "graded metric grader_seed = 4" in done.stdout
    assert "self-reported metric accuracy = 1" in done.stdout

    done = _labloop("sandbox", "run", str(task), "--json", tmp_path=tmp_path)
    result = json.loads(done.stdout)
    assert result["metrics"] == {"accuracy": 0.75, "grader_seed": 0.0} and result["self_reported"] == {"accuracy": 1.0}
    runs = tmp_path / "home" / "runs" / "sandbox-run"
    leftover = [p for p in runs.rglob("*") if p.name == GRADER_FILE or (p.is_file() and SECRET in p.read_text())]
    assert leftover == []  # the grader's workspace is gone; the experiment's never had the hidden files


def test_sandbox_run_fails_with_the_graders_message(sandbox_image: str, tmp_path: Path) -> None:
    task = make_graded_task(tmp_path / "graded", code="print('no predictions written')\n")
    done = _labloop("sandbox", "run", str(task), tmp_path=tmp_path)
    assert done.returncode == 1
    assert "error: the grader failed: exited with code 1: no predictions: write one label per line" in done.stdout
