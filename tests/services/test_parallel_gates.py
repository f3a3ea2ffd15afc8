"""Gates in parallel branches over HTTP: two checkpoints pending at once, decided in reverse order."""

from __future__ import annotations

import yaml

from tests.services.conftest import ServerFactory, job_status, task_files, upload, wait_for


def test_two_pending_gates_of_one_round_are_decided_in_reverse_order(make_server: ServerFactory) -> None:
    server = make_server().start()
    client = server.client()
    files = task_files("twin")
    spec = yaml.safe_load(files["task.yaml"])
    spec["search"] = {"parallel": 2}
    upload(client, {**files, "task.yaml": yaml.safe_dump(spec)})
    reply = client.post("/v1/jobs", json={"task": "twin", "strategy": "search",
                                          "gates": {"idea": "always", "code": "never", "finding": "never"}})
    assert reply.status_code == 201, reply.text
    job_id = reply.json()["id"]

    def pending() -> list[dict[str, object]]:
        return list(client.get("/v1/checkpoints", params={"job_id": job_id, "status": "pending"}).json())

    both = wait_for(lambda: len(pending()) == 2 and pending(), what="two pending idea checkpoints", server=server)
    first, second = sorted(both, key=lambda c: str(c["id"]))
    assert (first["id"], second["id"]) == (f"{job_id}-r1s0-idea-0", f"{job_id}-r1s1-idea-0")
    assert first["payload"]["params"] != second["payload"]["params"]  # type: ignore[index]
    # Which branch asks is said in words, so a reviewer tells the two apart without reading ids.
    labels = [str(c["payload"]["branch"]) for c in (first, second)]  # type: ignore[index]
    assert labels[0].startswith("round 1, slot 0 (r1s0): ") and labels[0].endswith(" of root"), labels
    assert labels[1].startswith("round 1, slot 1 (r1s1): ") and labels[0] != labels[1], labels
    assert job_status(client, job_id) == "waiting"

    decided = client.post(f"/v1/checkpoints/{second['id']}/decision", json={"action": "approve"})
    assert decided.status_code == 200, decided.text
    ran = f"{job_id}-r1s1-candidate-0"
    wait_for(lambda: any(e["id"] == ran and e["status"] == "succeeded"
                         for e in client.get(f"/v1/jobs/{job_id}/experiments").json()),
             what="the approved branch's experiment", server=server)
    wait_for(lambda: job_status(client, job_id) == "waiting", what="the job waiting again", server=server)
    assert [c["id"] for c in pending()] == [first["id"]]  # the other branch still waits for its human

    rejected = client.post(f"/v1/checkpoints/{first['id']}/decision",
                           json={"action": "reject", "reason": "one point is enough"})
    assert rejected.status_code == 200, rejected.text
    wait_for(lambda: job_status(client, job_id) == "succeeded", what="the job to finish", server=server)
    experiments = {e["id"].removeprefix(job_id + "-") for e in client.get(f"/v1/jobs/{job_id}/experiments").json()}
    assert "r1s1-candidate-0" in experiments and "r1s0-candidate-0" not in experiments  # the rejected idea never ran
    report = client.get(f"/v1/jobs/{job_id}/report")
    assert report.status_code == 200 and "one point is enough" in report.text
