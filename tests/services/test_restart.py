"""kill -9 of the server while one job waits at a checkpoint and another runs an experiment."""

from __future__ import annotations

from collections import Counter

import pytest

from services.store import events_after, get_job, list_checkpoints, list_decisions, list_experiments
from tests.services.conftest import ServerFactory, job_status, task_files, upload, wait_for

pytestmark = pytest.mark.docker
NO_GATES = {"idea": "never", "code": "never", "finding": "never"}


def test_after_kill_9_checkpoints_stay_pending_running_jobs_finish_and_nothing_is_recorded_twice(
    make_server: ServerFactory, sandbox_image: str,
) -> None:
    first = make_server().start()
    client = first.client()
    upload(client, task_files("quick"))
    upload(client, task_files("sleepy", slow=6))
    waiting = client.post("/v1/jobs", json={"task": "quick", "gates": {**NO_GATES, "code": "always"}}).json()["id"]
    checkpoint = wait_for(lambda: client.get("/v1/checkpoints", params={"job_id": waiting}).json(),
                          what="the checkpoint", server=first)[0]
    running = client.post("/v1/jobs", json={"task": "sleepy", "gates": NO_GATES}).json()["id"]
    wait_for(lambda: [e for e in client.get(f"/v1/jobs/{running}/experiments").json() if e["status"] == "running"],
             what="the baseline to be running", server=first)
    first.kill()

    with first.store() as store:  # what the dead process left behind
        assert [c.status for c in list_checkpoints(store, job_id=waiting, status=None)] == ["pending"]
    second = make_server(first.home).start()
    client = second.client()
    assert job_status(client, waiting) == "waiting"
    still = client.get(f"/v1/checkpoints/{checkpoint['id']}").json()
    assert still["status"] == "pending" and still["payload"] == checkpoint["payload"]
    approved = client.post(f"/v1/checkpoints/{checkpoint['id']}/decision", json={"action": "approve"})
    assert approved.status_code == 200, approved.text
    for job_id in (waiting, running):
        wait_for(lambda j=job_id: job_status(client, j) in ("succeeded", "failed"), timeout=180,
                 what=f"{job_id} to finish", server=second)
        assert job_status(client, job_id) == "succeeded", client.get(f"/v1/jobs/{job_id}").json()

    with second.store() as store:
        for job_id in (waiting, running):
            experiments = list_experiments(store, job_id)
            roles = Counter((e.iteration, e.role, e.seed) for e in experiments)
            assert all(n == 1 for n in roles.values()), roles  # one row per experiment, re-runs upsert
            summary = client.get(f"/v1/jobs/{job_id}").json()["summary"]
            assert summary["experiments"] == len(experiments)
        baseline = next(e for e in list_experiments(store, running) if e.role == "baseline")
        assert baseline.writes >= 3 and baseline.status == "succeeded"  # written again by the re-run, same row
        assert [d.checkpoint_id for d in list_decisions(store, waiting)] == [checkpoint["id"]]
        assert len(list_checkpoints(store, job_id=waiting, status=None)) == 1
        created = [e for e in events_after(store, waiting) if e.kind == "checkpoint.created"]
        assert len(created) == 1
    report = client.get(f"/v1/jobs/{running}/report")
    assert report.status_code == 200 and "sleepy" in report.text


def test_a_graceful_stop_leaves_a_running_job_to_be_resumed(make_server: ServerFactory, sandbox_image: str) -> None:
    first = make_server().start()
    client = first.client()
    upload(client, task_files("sleepy", slow=4))
    job_id = client.post("/v1/jobs", json={"task": "sleepy", "gates": NO_GATES}).json()["id"]
    wait_for(lambda: [e for e in client.get(f"/v1/jobs/{job_id}/experiments").json() if e["status"] == "running"],
             what="the baseline to be running", server=first)
    with client.stream("GET", f"/v1/jobs/{job_id}/events"):  # an open SSE stream must not hold the stop
        first.stop()
    # uvicorn re-raises the signal once it has shut down, hence -SIGTERM rather than 0.
    assert first.proc is not None and first.proc.returncode in (0, -15), first.tail()
    assert "Application shutdown complete" in first.tail()
    with first.store() as store:
        assert get_job(store, job_id).status == "running"  # not failed: the next start resumes it
    second = make_server(first.home).start()
    wait_for(lambda: job_status(second.client(), job_id) in ("succeeded", "failed"), timeout=120,
             what="the resumed job", server=second)
    assert job_status(second.client(), job_id) == "succeeded"
