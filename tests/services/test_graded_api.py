"""A graded task over the HTTP API: its hidden files are stored but never listed, a task that names
missing grader files is refused, and a job's experiments carry the grader's and self-reported metrics."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.services.conftest import Server, job_status, upload, wait_for
from tests.services.test_api import _is_error
from tests.utils.graded import GRADER_FILE, LABELS_FILE, SECRET, TRAIN_FILE, make_graded_task


def _graded_files(folder: Path, name: str) -> dict[str, str]:
    task = make_graded_task(folder, name=name)
    spec = yaml.safe_load((task / "task.yaml").read_text())
    spec["params"] = {"k": {"choices": ["a", "b"]}}  # for the search strategy; predict.py ignores it
    (task / "task.yaml").write_text(yaml.safe_dump(spec))
    return {p.relative_to(task).as_posix(): p.read_text() for p in task.rglob("*") if p.is_file()}


def test_a_graded_task_lists_no_hidden_file_and_its_job_reports_both_metric_sets(
    server: Server, tmp_path: Path
) -> None:
    client = server.client()
    files = _graded_files(tmp_path / "graded", "graded-api")
    stored = upload(client, files)
    assert stored["files"] == ["predict.py", "task.yaml", TRAIN_FILE]  # neither the grader nor its labels
    assert client.get("/v1/tasks/graded-api").json()["files"] == stored["files"]
    version = server.home / "tasks" / "graded-api" / "v1"
    assert (version / GRADER_FILE).is_file() and (version / LABELS_FILE).is_file()  # the version keeps them

    job = client.post("/v1/jobs", json={"task": "graded-api", "strategy": "search", "budget": {"iterations": 1},
                                        "gates": {"idea": "never", "code": "never", "finding": "never"}})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    wait_for(lambda: job_status(client, job_id) in ("succeeded", "failed"), timeout=240, what="the job to end")
    assert job_status(client, job_id) == "succeeded"
    experiments = client.get(f"/v1/jobs/{job_id}/experiments").json()
    baseline = next(e for e in experiments if e["role"] == "baseline")
    assert baseline["result"]["metrics"]["accuracy"] == 0.5 and baseline["result"]["self_reported"] == {"accuracy": 0.5}
    one = client.get(f"/v1/experiments/{baseline['id']}").json()
    assert one["result"]["self_reported"] == {"accuracy": 0.5}
    assert all(SECRET not in str(e) for e in experiments)
    for artifact in baseline["result"]["artifacts"]:
        body = client.get(f"/v1/experiments/{baseline['id']}/artifacts/{artifact['path']}").text
        assert SECRET not in body
    assert SECRET not in client.get(f"/v1/jobs/{job_id}/report").text


def test_a_task_naming_missing_or_escaping_grader_files_is_refused(server: Server, tmp_path: Path) -> None:
    client = server.client()
    files = _graded_files(tmp_path / "graded", "graded-bad")
    missing = {k: v for k, v in files.items() if k != GRADER_FILE}
    reply = client.post("/v1/tasks", json={"files": missing})
    _is_error(reply, 422)
    assert f"evaluation.files names '{GRADER_FILE}', which is not in the task folder" in reply.json()["error"]["message"]
    spec = yaml.safe_load(files["task.yaml"])
    for bad, expected in (({**spec, "protect": ["../etc/passwd"]}, "protect entry '../etc/passwd' must be a path"),
                          ({**spec, "evaluation": {**spec["evaluation"], "secret": 1}}, "unknown key 'evaluation.secret'")):
        reply = client.post("/v1/tasks", json={"files": {**files, "task.yaml": yaml.safe_dump(bad)}})
        _is_error(reply, 422)
        assert expected in reply.json()["error"]["message"]
    assert client.get("/v1/tasks/graded-bad").status_code == 404  # nothing stored
