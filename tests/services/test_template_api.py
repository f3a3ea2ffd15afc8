"""An AI Scientist template uploaded over HTTP runs with the metric given in the job's body."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest

from agents.template import METRIC_NOT_GIVEN, SEED_NOTE
from tests.agents.test_template_job import EXPERIMENT
from tests.services.conftest import Server, job_status, task_files, upload, wait_for

pytestmark = pytest.mark.docker


def _template_files(name: str) -> dict[str, str]:
    return {"experiment.py": textwrap.dedent(EXPERIMENT).lstrip(),
            "prompt.json": json.dumps({"system": "", "task_description": "Raise the hard score."}),
            "labloop.yaml": f"name: {name}\nbudget: {{iterations: 1, experiment_timeout_s: 60}}\n"}


def _finished(server: Server, job_id: str) -> dict[str, Any]:
    client = server.client()
    wait_for(lambda: job_status(client, job_id) in ("succeeded", "failed", "cancelled"), timeout=120,
             what=f"{job_id} to finish", server=server)
    return dict(client.get(f"/v1/jobs/{job_id}").json())


def test_an_uploaded_template_runs_with_the_metric_of_the_jobs_body(server: Server) -> None:
    client = server.client()
    task = upload(client, _template_files("tpl-api"))
    assert task["name"] == "tpl-api" and task["spec"]["metric"]["name"] == METRIC_NOT_GIVEN
    assert "task.yaml" not in task["files"]  # stored as uploaded, unchanged

    reply = client.post("/v1/jobs", json={"task": "tpl-api", "metric": {"name": "hard.score", "direction": "minimize"}})
    assert reply.status_code == 201, reply.text
    assert reply.json()["task_fields"] == {"metric": {"name": "hard.score", "direction": "minimize"}}
    job = _finished(server, reply.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["task_fields"]["metric"]["name"] == "hard.score"  # GET /v1/jobs/{id} shows it too
    assert job["summary"]["baseline"] == {"hard.score": 0.5}  # final_info.json's means, flattened
    assert SEED_NOTE in job["notes"]
    listed = {j["id"]: j for j in client.get("/v1/jobs").json()}[job["id"]]
    assert listed["progress"]["metric"] == "hard.score" and listed["progress"]["direction"] == "minimize"

    # No metric: the baseline runs once and the job fails listing what it found.
    bare = client.post("/v1/jobs", json={"task": "tpl-api"})
    assert bare.status_code == 201, bare.text
    refused = _finished(server, bare.json()["id"])
    assert refused["status"] == "failed"
    assert "its baseline reported: easy.score = 0.8, hard.score = 0.5, hard.steps = 10" in refused["error"]
    # Readable by any token holder: the server's folders are not spelled out.
    assert "labloop run <task folder> --metric" in refused["error"] and str(server.home) not in refused["error"]
    experiments = client.get(f"/v1/jobs/{refused['id']}/experiments").json()
    assert [e["role"] for e in experiments] == ["baseline"]


def test_a_metric_in_the_body_of_a_job_on_a_task_with_task_yaml_is_refused(server: Server) -> None:
    client = server.client()
    upload(client, task_files("plain"))
    reply = client.post("/v1/jobs", json={"task": "plain", "metric": {"name": "score", "direction": "maximize"}})
    assert reply.status_code == 422
    assert "for AI Scientist templates" in reply.json()["error"]["message"]
    bad = client.post("/v1/jobs", json={"task": "plain", "metric": {"name": "score", "direction": "up"}})
    assert bad.status_code == 422 and "metric.direction" in bad.json()["error"]["message"]


def test_an_uploaded_template_without_a_name_is_refused(server: Server) -> None:
    files = _template_files("x")
    del files["labloop.yaml"]
    reply = server.client().post("/v1/tasks", json={"files": files})
    assert reply.status_code == 422 and "needs its name in labloop.yaml" in reply.json()["error"]["message"]
