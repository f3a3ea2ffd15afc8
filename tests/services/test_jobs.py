"""Jobs end to end over HTTP, with the real sandbox: checkpoints, decisions, reports, SSE, cancel."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from services.jobs import NO_LLM_NOTICE
from services.store import list_jobs, open_store
from tests.services.conftest import (
    LABLOOP,
    Server,
    free_port,
    job_status,
    server_env,
    task_files,
    upload,
    wait_for,
)

pytestmark = pytest.mark.docker
ONLY_CODE = {"idea": "never", "code": "always", "finding": "never"}


def _start(server: Server, gates: dict[str, str], task: str = "quick") -> str:
    reply = server.client().post("/v1/jobs", json={"task": task, "gates": gates})
    assert reply.status_code == 201, reply.text
    job = reply.json()
    # The gates asked for, over the defaults of the rest (the paper's gate among them).
    assert job["status"] == "queued" and {kind: job["gates"][kind] for kind in gates} == gates
    return str(job["id"])


def _pending(server: Server, job_id: str) -> dict[str, Any]:
    found = wait_for(lambda: server.client().get("/v1/checkpoints", params={"job_id": job_id}).json(),
                     what=f"a pending checkpoint of {job_id}", server=server)
    assert len(found) == 1
    return dict(found[0])


def _finished(server: Server, job_id: str, timeout: float = 120) -> dict[str, Any]:
    client = server.client()
    wait_for(lambda: job_status(client, job_id) in ("succeeded", "failed", "cancelled"), timeout=timeout,
             what=f"{job_id} to finish", server=server)
    return dict(client.get(f"/v1/jobs/{job_id}").json())


def _events(server: Server, job_id: str, *, last_id: int | None = None, stop_after: int | None = None
            ) -> list[dict[str, Any]]:
    """Read the job's SSE stream (from ``last_id``) until it ends, or ``stop_after`` events."""
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    seen: list[dict[str, Any]] = []
    with server.client() as client, client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers,
                                                  timeout=httpx.Timeout(120, connect=5)) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        event: dict[str, str] = {}
        for line in stream.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                key, _, value = line.partition(":")
                event[key] = value.strip()
            elif not line and "data" in event:
                body = json.loads(event["data"])
                assert str(body["id"]) == event["id"] and body["kind"] == event["event"]
                seen.append(body)
                event = {}
                if stop_after is not None and len(seen) >= stop_after:
                    break
    return seen


@pytest.fixture(scope="module")
def jobs_server(server: Server, sandbox_image: str) -> Server:
    """The module's server with the quick task uploaded (the image must be built: `make setup`)."""
    upload(server.client(), task_files("quick"))
    return server


def test_a_code_gate_waits_until_approved_over_http_then_the_report_is_served(jobs_server: Server) -> None:
    server = jobs_server
    job_id = _start(server, ONLY_CODE)
    checkpoint = _pending(server, job_id)
    assert checkpoint["kind"] == "code" and checkpoint["status"] == "pending"
    assert "params.json" in checkpoint["payload"]["diff"] and "x" in checkpoint["payload"]["params"]
    assert job_status(server.client(), job_id) == "waiting"
    # Reconnect mid-stream: the first part, then the rest after the last id seen.
    head = _events(server, job_id, stop_after=3)
    decided = server.client("bob").post(f"/v1/checkpoints/{checkpoint['id']}/decision", json={"action": "approve"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by"] == "bob"
    tail = _events(server, job_id, last_id=head[-1]["id"])
    job = _finished(server, job_id)
    assert job["status"] == "succeeded", job
    everything = _events(server, job_id)
    ids = [e["id"] for e in everything]
    assert [e["id"] for e in head + tail] == ids and len(set(ids)) == len(ids) and ids == sorted(ids)
    kinds = [e["kind"] for e in everything]
    assert kinds[0] == "job.queued" and kinds[-1] == "job.finished"
    assert {"checkpoint.created", "checkpoint.decided", "node", "experiment", "report"} <= set(kinds)
    # the job announced that it started waiting, naming the checkpoint, before the decision came
    waiting = [e for e in everything if e["kind"] == "job.waiting"]
    assert [w["data"]["checkpoints"] for w in waiting] == [[{"checkpoint_id": checkpoint["id"], "kind": "code"}]]
    assert kinds.index("job.waiting") < kinds.index("checkpoint.decided")
    report = server.client().get(f"/v1/jobs/{job_id}/report")
    assert report.status_code == 200 and "# Research report" in report.text
    assert "approve" in report.text
    experiments = server.client().get(f"/v1/jobs/{job_id}/experiments").json()
    assert len({e["id"] for e in experiments}) == len(experiments) >= 2
    baseline = next(e for e in experiments if e["role"] == "baseline")
    assert baseline["status"] == "succeeded" and "notes.txt" in [a["path"] for a in baseline["result"]["artifacts"]]
    artifact = server.client().get(f"/v1/experiments/{baseline['id']}/artifacts/notes.txt")
    assert artifact.status_code == 200 and artifact.text == "x=-2.0\n"
    metrics = server.client().get("/metrics").text
    assert "labloop_checkpoint_wait_seconds_count 1.0" in metrics
    assert "labloop_decision_to_resume_seconds_count 1.0" in metrics
    assert 'labloop_jobs{status="succeeded"}' in metrics and "labloop_sandbox_duration_seconds_count" in metrics


def test_a_rejection_reason_ends_up_in_memory(jobs_server: Server) -> None:
    server = jobs_server
    job_id = _start(server, ONLY_CODE)
    checkpoint = _pending(server, job_id)
    reason = "x above zero overheats the cryostat; keep it negative"
    reply = server.client().post(f"/v1/checkpoints/{checkpoint['id']}/decision",
                                 json={"action": "reject", "reason": reason})
    assert reply.status_code == 200, reply.text
    assert _finished(server, job_id)["status"] == "succeeded"
    feedback = server.client().get("/v1/findings", params={"kind": "feedback", "job_id": job_id}).json()
    assert [f["metadata"]["reason"] for f in feedback] == [reason]
    assert feedback[0]["metadata"]["action"] == "reject" and feedback[0]["metadata"]["decided_by"] == "alice"
    found = server.client().get("/v1/findings", params={"query": "cryostat overheats", "kind": "feedback"}).json()
    assert reason in [f["metadata"].get("reason") for f in found]
    outcomes = server.client().get("/v1/findings", params={"job_id": job_id}).json()
    assert outcomes and all(f["metadata"]["job_id"] == job_id for f in outcomes)


def test_cancel_stops_a_running_job_and_its_container_at_once(jobs_server: Server) -> None:
    server = jobs_server
    upload(server.client(), task_files("sleepy", slow=60))
    job_id = _start(server, ONLY_CODE, task="sleepy")
    engine = docker.from_env()
    label = f"labloop.job={job_id}"
    wait_for(lambda: engine.containers.list(filters={"label": label}), what="the baseline's container", server=server)
    started = time.monotonic()
    reply = server.client().post(f"/v1/jobs/{job_id}/cancel")
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "cancelled" and time.monotonic() - started < 5
    wait_for(lambda: not engine.containers.list(filters={"label": label}), timeout=15,
             what="the container to go", server=server)
    assert server.client().post(f"/v1/jobs/{job_id}/cancel").status_code == 409
    time.sleep(2)  # the graph's thread winds down; nothing may revive the job
    assert job_status(server.client(), job_id) == "cancelled"
    engine.close()


def test_a_job_cancelled_while_waiting_gets_its_report_and_its_checkpoint_closes(jobs_server: Server) -> None:
    server = jobs_server
    client = server.client()
    job_id = _start(server, ONLY_CODE)
    checkpoint = _pending(server, job_id)
    assert client.get(f"/v1/jobs/{job_id}/report").status_code == 404  # no report while it waits
    reply = client.post(f"/v1/jobs/{job_id}/cancel")
    assert reply.status_code == 200, reply.text
    job = reply.json()
    assert job["status"] == "cancelled" and job["summary"]["stop_reason"] == "cancelled by a user while waiting at a checkpoint"
    assert job["summary"]["baseline"]["score"] is not None  # the baseline ran before the gate
    report = client.get(f"/v1/jobs/{job_id}/report")
    assert report.status_code == 200 and "cancelled by a user while waiting at a checkpoint" in report.text
    assert client.get(f"/v1/checkpoints/{checkpoint['id']}").json()["status"] == "cancelled"
    decided = client.post(f"/v1/checkpoints/{checkpoint['id']}/decision", json={"action": "approve"})
    assert decided.status_code == 409
    kinds = [e["kind"] for e in _events(server, job_id)]  # the stream ends at job.finished: the report is in it
    assert kinds[-2:] == ["report", "job.finished"] and kinds.count("job.finished") == 1


def test_jobs_beyond_the_concurrency_limit_queue_and_a_queued_job_cancels_at_once(jobs_server: Server) -> None:
    server = jobs_server
    client = server.client()
    if client.get("/v1/tasks/sleepy").status_code == 404:
        upload(client, task_files("sleepy", slow=60))
    jobs = [_start(server, ONLY_CODE, task="sleepy") for _ in range(3)]  # the server runs 2 at once
    wait_for(lambda: sorted(job_status(client, j) for j in jobs) == ["queued", "running", "running"],
             timeout=30, what="two running and one queued", server=server)
    queued = next(j for j in jobs if job_status(client, j) == "queued")
    assert client.post(f"/v1/jobs/{queued}/cancel").json()["status"] == "cancelled"
    for job_id in jobs:
        if job_id != queued:
            assert client.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    time.sleep(1)
    assert client.get(f"/v1/jobs/{queued}").json()["started_at"] is None  # it never ran
    assert client.get(f"/v1/jobs/{queued}/experiments").json() == []


def test_an_edit_at_the_code_gate_is_what_runs(jobs_server: Server) -> None:
    server = jobs_server
    job_id = _start(server, ONLY_CODE)
    checkpoint = _pending(server, job_id)
    reply = server.client().post(f"/v1/checkpoints/{checkpoint['id']}/decision",
                                 json={"action": "edit", "reason": "try the optimum", "edit": {"params": {"x": 1.0}}})
    assert reply.status_code == 200, reply.text
    assert reply.json()["edit"] == {"params": {"x": 1.0}}
    assert _finished(server, job_id)["status"] == "succeeded"
    candidate = next(e for e in server.client().get(f"/v1/jobs/{job_id}/experiments").json() if e["role"] == "candidate")
    assert candidate["params"] == {"x": 1.0} and candidate["result"]["metrics"]["score"] == 0.0


NEVER_ASK = {"idea": "never", "code": "never", "finding": "never"}


def test_an_llm_job_without_an_endpoint_falls_back_to_search_as_the_cli_does_and_says_so(
    jobs_server: Server, tmp_path: Path
) -> None:
    server = jobs_server
    reply = server.client().post("/v1/jobs", json={"task": "quick", "strategy": "llm", "gates": NEVER_ASK})
    assert reply.status_code == 201, reply.text
    api_job = reply.json()
    assert api_job["strategy"] == "search" and api_job["notes"] == [NO_LLM_NOTICE]
    done = _finished(server, api_job["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["notes"] == [NO_LLM_NOTICE]
    report = server.client().get(f"/v1/jobs/{api_job['id']}/report").text
    assert f"note: {NO_LLM_NOTICE}" in report

    # The same task run by `labloop run --strategy llm` on a machine with no endpoint either.
    folder = tmp_path / "quick"
    folder.mkdir()
    for rel, text in task_files("quick").items():
        (folder / rel).write_text(text)
    home = tmp_path / "cli-home"
    env = server_env(home, free_port())
    cli = subprocess.run(
        [*LABLOOP, "run", str(folder), "--strategy", "llm", "--auto-approve", "--no-memory", "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert json.loads(cli.stdout)["status"] == "succeeded"
    assert NO_LLM_NOTICE in " ".join(cli.stderr.split())  # the notice, once, however the terminal wraps it
    with open_store(f"sqlite:///{home / 'labloop.db'}") as store:
        (cli_job,) = list_jobs(store)
    assert (cli_job.strategy, cli_job.notes) == (api_job["strategy"], api_job["notes"])
    assert cli_job.budget == api_job["budget"]  # the task's budget, validated the same way
