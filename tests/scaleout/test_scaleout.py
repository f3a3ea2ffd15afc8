"""The scale-out profile end to end: API and worker processes on Postgres, a Chroma server, Docker.

Everything is a real process: ``labloop serve`` with ``LABLOOP_EXECUTOR=queue`` and
``labloop worker`` (procrastinate), each with its own home, sharing only Postgres, Chroma and
the task/artifact folders — the topology of deploy/docker-compose.yml.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import docker
import httpx
import pytest

from services.store import list_experiments, list_jobs
from services.store.schedules import list_firings, update_schedule
from tests.scaleout.conftest import NO_GATES, Topology, Worker, events, finished
from tests.services.conftest import free_port, task_files, upload, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.docker]


def _listen(client: httpx.Client, job_id: str, into: list[tuple[dict[str, Any], float]]) -> threading.Thread:
    """Read the job's SSE stream in a thread, noting each event and when it arrived."""
    def read() -> None:
        with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=120) as reply:
            for line in reply.iter_lines():
                if line.startswith("data:"):
                    into.append((json.loads(line[5:]), time.time()))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_six_jobs_spread_over_two_workers_and_the_api_streams_serves_and_remembers_their_work(
    topology: Topology,
) -> None:
    api = topology.api()
    topology.worker()
    topology.worker()
    client = api.client()
    upload(client, task_files("quick"))
    jobs = [client.post("/v1/jobs", json={"task": "quick", "gates": NO_GATES}).json()["id"] for _ in range(6)]
    streamed: list[tuple[dict[str, Any], float]] = []
    reader = _listen(api.client(), jobs[-1], streamed)
    done = finished(client, jobs, topology)
    assert {j: v["status"] for j, v in done.items()} == dict.fromkeys(jobs, "succeeded"), done

    with topology.store() as store:
        takers = {job: [e.data["worker"] for e in events(store, job, "job.taken")] for job in jobs}
        assert all(len(names) == 1 for names in takers.values()), takers  # each job taken once
        assert Counter(n[0] for n in takers.values()).keys() == {"worker0", "worker1"}, takers
        experiment = next(e for e in list_experiments(store, jobs[0]) if e.role == "baseline")
    # Artifacts and the report were written by a worker into the shared folder; the API serves them.
    notes = client.get(f"/v1/experiments/{experiment.id}/artifacts/notes.txt")
    assert notes.status_code == 200 and notes.text.startswith("x="), notes.text
    assert "quick" in client.get(f"/v1/jobs/{jobs[0]}/report").text
    # What a worker remembered went to the Chroma server, where the API finds it.
    remembered = client.get("/v1/findings", params={"job_id": jobs[0]})
    assert remembered.status_code == 200 and remembered.json(), remembered.text
    # An SSE client on the API saw the events a worker process wrote, in order, up to the end.
    reader.join(timeout=10)
    kinds = [body["kind"] for body, _ in streamed]
    assert kinds[0] == "job.queued" and "job.taken" in kinds and kinds[-1] == "job.finished", kinds
    assert [body["id"] for body, _ in streamed] == sorted(body["id"] for body, _ in streamed)
    live = [arrived - datetime.fromisoformat(body["at"]).timestamp() for body, arrived in streamed
            if body["kind"] != "job.queued"]
    print(f"SSE delivery of worker events: median {statistics.median(live) * 1000:.0f} ms, "
          f"max {max(live) * 1000:.0f} ms over {len(live)} events")
    # The streams poll every 2 s; LISTEN/NOTIFY is what makes delivery prompt.
    assert statistics.median(live) < 0.5, live


def _baseline_running_on_one_of_two_workers(
    topology: Topology, *, slow: int
) -> tuple[httpx.Client, str, Worker, Worker]:
    """Start two workers and a slow job; return once its baseline runs: (client, job, taker, other)."""
    api = topology.api()
    first, second = topology.worker(), topology.worker()
    client = api.client()
    upload(client, task_files("sleepy", slow=slow))
    job_id = client.post("/v1/jobs", json={"task": "sleepy", "gates": NO_GATES}).json()["id"]
    wait_for(lambda: [e for e in client.get(f"/v1/jobs/{job_id}/experiments").json() if e["status"] == "running"],
             what="the baseline to be running", server=api)
    with topology.store() as store:
        (taker,) = [e.data["worker"] for e in events(store, job_id, "job.taken")]
    return (client, job_id, first, second) if taker == first.name else (client, job_id, second, first)


def test_a_worker_killed_mid_job_leaves_the_job_to_the_other_from_its_last_checkpoint(
    topology: Topology,
) -> None:
    client, job_id, victim, survivor = _baseline_running_on_one_of_two_workers(topology, slow=5)
    victim.kill()
    killed_at = time.monotonic()
    done = finished(client, [job_id], topology)[job_id]
    assert done["status"] == "succeeded", done

    with topology.store() as store:
        assert [e.data["worker"] for e in events(store, job_id, "job.taken")] == [victim.name, survivor.name]
        experiments = list_experiments(store, job_id)
        roles = Counter((e.iteration, e.role, e.seed) for e in experiments)
        assert all(n == 1 for n in roles.values()), roles  # one row per experiment, the re-run upserts
        assert done["summary"]["experiments"] == len(experiments)
        baseline = next(e for e in experiments if e.role == "baseline")
        assert baseline.writes >= 3 and baseline.status == "succeeded"  # interrupted, then re-run
        resumed = [e for e in events(store, job_id, "node") if e.data["phase"] == "started"]
        assert [e.data["node"] for e in resumed].count("baseline") == 2  # nothing before it ran again
        retaken = events(store, job_id, "job.taken")[1].at
    print(f"job taken again {retaken.timestamp() - time.time() + time.monotonic() - killed_at:.1f} s after kill -9")


def test_a_worker_stopped_with_sigterm_hands_its_running_job_back(topology: Topology) -> None:
    client, job_id, leaving, staying = _baseline_running_on_one_of_two_workers(topology, slow=8)
    stopped_at = time.monotonic()
    assert leaving.stop() == 0, leaving.tail()
    print(f"worker stopped {time.monotonic() - stopped_at:.1f} s after SIGTERM")
    done = finished(client, [job_id], topology)[job_id]
    assert done["status"] == "succeeded", done
    with topology.store() as store:
        assert [e.data["worker"] for e in events(store, job_id, "job.taken")] == [leaving.name, staying.name]
        roles = Counter((e.iteration, e.role, e.seed) for e in list_experiments(store, job_id))
    assert all(n == 1 for n in roles.values()), roles


def test_a_decision_on_the_api_is_resumed_by_a_worker_and_a_cancel_kills_its_container(
    topology: Topology,
) -> None:
    api = topology.api()
    metrics_port = free_port()
    topology.worker(metrics_port=metrics_port)
    client = api.client()
    upload(client, task_files("quick"))
    upload(client, task_files("sleepy", slow=60))
    gated = client.post("/v1/jobs", json={"task": "quick", "gates": {**NO_GATES, "code": "always"}}).json()["id"]
    checkpoint = wait_for(lambda: client.get("/v1/checkpoints", params={"job_id": gated}).json(),
                          what="the checkpoint", server=api)[0]
    wait_for(lambda: client.get(f"/v1/jobs/{gated}").json()["status"] == "waiting", what="waiting")
    decided = client.post(f"/v1/checkpoints/{checkpoint['id']}/decision", json={"action": "approve"})
    assert decided.status_code == 200, decided.text
    assert finished(client, [gated], topology)[gated]["status"] == "succeeded"
    with topology.store() as store:
        taken = events(store, gated, "job.taken")
        running = [e.data["resumed_with"] for e in events(store, gated, "job.running")]
        decided_at = events(store, gated, "checkpoint.decided")[0].at
        resumed_at = next(e.at for e in events(store, gated, "node") if e.at > decided_at)
    assert len(taken) == 2 and running == [None, "approve"]  # let go at the checkpoint, taken again
    print(f"decision -> next node started on a worker: {(resumed_at - decided_at).total_seconds() * 1000:.0f} ms")
    # The resume happened on the worker: its own /metrics counts it, the API's cannot.
    worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
    assert "labloop_decision_to_resume_seconds_count 1.0" in worker_metrics
    assert "labloop_decision_to_resume_seconds_count 0.0" in client.get("/metrics").text

    sleepy = client.post("/v1/jobs", json={"task": "sleepy", "gates": NO_GATES}).json()["id"]
    wait_for(lambda: [e for e in client.get(f"/v1/jobs/{sleepy}/experiments").json() if e["status"] == "running"],
             what="the 60 s baseline to be running", server=api)
    engine = docker.from_env()
    try:
        def running() -> list[Any]:
            return list(engine.api.containers(filters={"label": f"labloop.job={sleepy}"}))

        wait_for(running, timeout=30, what="the job's container to run")
        asked = time.monotonic()
        assert client.post(f"/v1/jobs/{sleepy}/cancel").json()["status"] == "cancelled"
        wait_for(lambda: not running(), timeout=20, what="the worker to kill the job's container")
    finally:
        engine.close()
    print(f"container gone {time.monotonic() - asked:.1f} s after the cancel request")
    wait_for(lambda: [e for e in client.get(f"/v1/jobs/{sleepy}/experiments").json() if e["status"] != "running"],
             timeout=30, what="the killed experiment to be recorded")
    assert client.get(f"/v1/jobs/{sleepy}").json()["status"] == "cancelled"


def test_two_schedulers_make_one_job_per_firing(topology: Topology) -> None:
    first, second = topology.api(), topology.api()
    topology.worker()
    client = first.client()
    upload(client, task_files("quick"))
    created = client.post("/v1/schedules", json={"cron": "* * * * *", "overlap": "allow",
                                                  "template": {"task": "quick", "gates": NO_GATES}})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    with topology.store() as store:
        for n in range(1, 4):  # three firings, each due now (no test waits for a minute)
            # The scheduler that lost a firing moves next_run_at on a moment later, which can undo
            # a change made meanwhile: make it due again until it fires.
            deadline = time.monotonic() + 30
            while len(list_firings(store, sid)) < n:
                assert time.monotonic() < deadline, f"firing {n} never came\n{topology.logs()}"
                update_schedule(store, sid, changes={"next_run_at": datetime.now(UTC) - timedelta(milliseconds=50)})
                time.sleep(1.0)
        time.sleep(1.0)  # both schedulers tick every 0.3 s: a second job for a firing would be here by now
        firings = list_firings(store, sid)
        jobs = [j for j in list_jobs(store, limit=100) if j.schedule_id == sid]
    assert len(firings) >= 3 and {f.outcome for f in firings} == {"fired"}
    assert len({f.due_at for f in firings}) == len(firings)
    assert sorted(f.job_id or "" for f in firings) == sorted(j.id for j in jobs)
    done = finished(second.client(), [j.id for j in jobs], topology)
    assert {v["status"] for v in done.values()} == {"succeeded"}
