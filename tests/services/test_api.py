"""The API's edges against a real server: auth, the error format, task uploads, artifacts, checkpoints."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.protocols import ExperimentRecord
from services.lifecycle import Lifecycle
from services.outcomes import Checkpoint, Paused
from services.store import SqlJournal, create_job
from tests.services.conftest import LABLOOP, TOKENS, Server, free_port, task_files, upload


def _tarball(members: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def _is_error(reply: httpx.Response, status: int) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]


def test_health_checks_are_open_and_everything_else_needs_a_token(server: Server) -> None:
    anonymous = server.client(user=None)
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    ready = anonymous.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "docker": "ok", "memory": "ok"}
    for path in ("/v1/jobs", "/v1/tasks", "/v1/checkpoints", "/v1/schedules", "/v1/findings", "/metrics",
                 "/v1/jobs/job-x/events"):
        reply = anonymous.get(path)
        _is_error(reply, 401)
        assert reply.headers["www-authenticate"] == "Bearer"
    wrong = httpx.get(f"{server.url}/v1/jobs", headers={"Authorization": "Bearer tok-alice-012345678"})
    _is_error(wrong, 401)
    basic = httpx.get(f"{server.url}/v1/jobs", headers={"Authorization": "Basic YWxpY2U6eA=="})
    _is_error(basic, 401)
    assert server.client("bob").get("/v1/jobs").status_code == 200
    metrics = server.client().get("/metrics")
    assert metrics.status_code == 200 and 'labloop_jobs{status="queued"}' in metrics.text
    assert server.client(user=None).get("/docs").status_code == 200


def test_tasks_upload_as_json_or_tarball_and_make_versions(server: Server) -> None:
    client = server.client()
    first = upload(client, task_files("versioned"))
    assert (first["name"], first["version"]) == ("versioned", 1)
    assert first["files"] == ["experiment.py", "task.yaml"]
    nested = {f"versioned/{k}": v.encode() for k, v in task_files("versioned").items()} | {
        "versioned/data/more.txt": b"1 2 3"}
    second = client.post("/v1/tasks", content=_tarball(nested), headers={"content-type": "application/gzip"})
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2 and "data/more.txt" in second.json()["files"]
    latest = client.get("/v1/tasks/versioned").json()
    assert latest["version"] == 2 and latest["versions"] == [1, 2]
    assert client.get("/v1/tasks/versioned", params={"version": 1}).json()["files"] == ["experiment.py", "task.yaml"]
    assert "versioned" in [t["name"] for t in client.get("/v1/tasks").json()]
    stored = list((server.home / "tasks" / "versioned").iterdir())
    assert sorted(p.name for p in stored) == ["v1", "v2"]


@pytest.mark.parametrize(
    "files",
    [
        {"../evil.txt": "x"},
        {"/etc/evil": "x"},
        {"sub/../../evil": "x"},
        {"a\\..\\evil": "x"},
        {"c:evil": "x"},
    ],
)
def test_a_json_upload_cannot_leave_its_folder(server: Server, files: dict[str, str]) -> None:
    reply = server.client().post("/v1/tasks", json={"files": {**task_files("escape"), **files}})
    _is_error(reply, 422)
    assert not (server.home / "evil.txt").exists() and not (server.home / "tasks" / "evil.txt").exists()


def test_a_tarball_upload_cannot_leave_its_folder_or_carry_links(server: Server) -> None:
    client = server.client()
    base = {k: v.encode() for k, v in task_files("tarred").items()}
    for bad in (_tarball({**base, "../../evil.txt": b"x"}), _tarball(base, links={"link": "/etc/passwd"}),
                b"not a tarball at all"):
        _is_error(client.post("/v1/tasks", content=bad, headers={"content-type": "application/gzip"}), 422)
    assert not list(server.home.rglob("evil.txt")) and not list(server.home.rglob("link"))


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/v1/tasks", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
        ("POST", "/v1/tasks", {"content": b"x", "headers": {"content-type": "text/plain"}}, 400),
        ("POST", "/v1/tasks", {"json": {"files": {}}}, 422),
        ("POST", "/v1/tasks", {"json": {"files": {"experiment.py": "print(1)"}}}, 422),
        ("POST", "/v1/tasks", {"json": {"files": {"task.yaml": "name: [unclosed"}}}, 422),
        ("POST", "/v1/tasks", {"json": {"files": {"task.yaml": "name: t\nbogus: 1\n"}}}, 422),
        ("GET", "/v1/tasks/NOT_A_NAME", {}, 422),
        ("GET", "/v1/tasks/missing-task", {}, 404),
        ("POST", "/v1/jobs", {"json": {}}, 422),
        ("POST", "/v1/jobs", {"json": {"task": "missing-task"}}, 404),
        ("POST", "/v1/jobs", {"json": {"task": "basic", "strategy": "magic"}}, 422),
        ("POST", "/v1/jobs", {"json": {"task": "basic", "budget": {"iterations": 0}}}, 422),
        ("POST", "/v1/jobs", {"json": {"task": "basic", "budget": {"spend": 1}}}, 422),
        ("POST", "/v1/jobs", {"json": {"task": "basic", "gates": {"code": "sometimes"}}}, 422),
        ("POST", "/v1/jobs", {"json": {"task": "basic", "gates": {"lunch": "always"}}}, 422),
        ("POST", "/v1/jobs", {"content": b"[1,", "headers": {"content-type": "application/json"}}, 400),
        ("GET", "/v1/jobs", {"params": {"status": "sleeping"}}, 422),
        ("GET", "/v1/jobs", {"params": {"limit": 0}}, 422),
        ("GET", "/v1/jobs/job-missing", {}, 404),
        ("POST", "/v1/jobs/job-missing/cancel", {}, 404),
        ("GET", "/v1/jobs/job-missing/events", {}, 404),
        ("GET", "/v1/jobs/job-missing/report", {}, 404),
        ("GET", "/v1/jobs/job-missing/experiments", {}, 404),
        ("GET", "/v1/experiments/exp-missing", {}, 404),
        ("GET", "/v1/experiments/exp-missing/artifacts/a.txt", {}, 404),
        ("GET", "/v1/checkpoints", {"params": {"status": "maybe"}}, 422),
        ("GET", "/v1/checkpoints/cp-missing", {}, 404),
        ("POST", "/v1/checkpoints/cp-missing/decision", {"json": {"action": "approve"}}, 404),
        ("POST", "/v1/checkpoints/cp-missing/decision", {"json": {"action": "shrug"}}, 422),
        ("POST", "/v1/schedules", {"json": {"cron": "every day", "template": {"task": "basic"}}}, 422),
        ("POST", "/v1/schedules", {"json": {"cron": "61 * * * *", "template": {"task": "basic"}}}, 422),
        ("POST", "/v1/schedules", {"json": {"cron": "0 0 31 2 *", "template": {"task": "basic"}}}, 422),
        ("POST", "/v1/schedules", {"json": {"cron": "0 9 * * *", "timezone": "Mars/Olympus",
                                            "template": {"task": "basic"}}}, 422),
        ("POST", "/v1/schedules", {"json": {"cron": "0 9 * * *", "template": {"task": "missing-task"}}}, 404),
        ("GET", "/v1/schedules/sch-missing", {}, 404),
        ("PATCH", "/v1/schedules/sch-missing", {"json": {"enabled": False}}, 404),
        ("DELETE", "/v1/schedules/sch-missing", {}, 404),
        ("GET", "/v1/findings", {"params": {"kind": "gossip"}}, 422),
        ("GET", "/v1/no-such-route", {}, 404),
        ("DELETE", "/v1/jobs", {}, 405),
    ],
)
def test_every_bad_input_gets_a_json_4xx(
    server: Server, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    client = server.client()
    if client.get("/v1/tasks/basic").status_code == 404:
        upload(client, task_files("basic"))
    _is_error(client.request(method, path, **kwargs), status)  # type: ignore[arg-type]


def test_sse_rejects_a_malformed_last_event_id(server: Server) -> None:
    with server.store() as store:
        job_id = create_job(store, task_name="basic", task_dir="/nowhere", strategy="search").id
    _is_error(server.client().get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "ten"}), 400)


def test_artifacts_are_served_but_nothing_outside_the_outputs(server: Server, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    (outputs / "plots").mkdir(parents=True)
    (outputs / "plots" / "curve.txt").write_text("the curve")
    (tmp_path / "secret.txt").write_text("do not serve")
    (outputs / "escape").symlink_to(tmp_path / "secret.txt")
    with server.store() as store:
        job_id = create_job(store, task_name="basic", task_dir="/nowhere", strategy="search",
                            status="failed").id
        SqlJournal(store).record_experiment(ExperimentRecord(
            id=f"{job_id}-exp", job_id=job_id, iteration=0, role="baseline", params={}, seed=0,
            status="succeeded", output_dir=str(outputs)))
    client = server.client()
    base = f"/v1/experiments/{job_id}-exp/artifacts"
    ok = client.get(f"{base}/plots/curve.txt")
    assert ok.status_code == 200 and ok.text == "the curve"
    for bad in ("../secret.txt", "%2e%2e/secret.txt", "plots/..%2f..%2fsecret.txt", "escape", "//etc/passwd"):
        reply = client.get(f"{base}/{bad}")
        assert reply.status_code in (400, 404), (bad, reply.status_code, reply.text)
        assert "do not serve" not in reply.text and reply.json()["error"]["code"]
    assert client.get(f"/v1/jobs/{job_id}/experiments").json()[0]["id"] == f"{job_id}-exp"


def test_a_checkpoint_is_decided_once_by_the_token_holder(server: Server) -> None:
    with server.store() as store:
        job_id = create_job(store, task_name="basic", task_dir="/nowhere", strategy="search", status="waiting").id
        Lifecycle(store).pause(Paused((Checkpoint(id=f"{job_id}-1-idea-0", job_id=job_id, kind="idea",
                                                  payload={"title": "try x=1"}, flagged=["close to a rejected idea"]),)))
    cid = f"{job_id}-1-idea-0"
    client = server.client("bob")
    pending = client.get("/v1/checkpoints", params={"job_id": job_id}).json()
    assert [c["id"] for c in pending] == [cid] and pending[0]["flagged"] == ["close to a rejected idea"]
    # A payload of the old, shorter shape reads through the contract: its fields, the rest at their defaults.
    assert pending[0]["payload"]["title"] == "try x=1" and pending[0]["payload"]["kind"] == "idea"
    assert pending[0]["payload"]["branch"] == "" and pending[0]["payload"]["params"] == {}
    _is_error(client.post(f"/v1/checkpoints/{cid}/decision", json={"action": "reject"}), 422)  # no reason
    shrug = client.post(f"/v1/checkpoints/{cid}/decision", json={"action": "shrug", "reason": "meh"})
    _is_error(shrug, 422)
    assert all(action in shrug.json()["error"]["message"] for action in ("approve", "reject", "edit")), shrug.text
    _is_error(client.post(f"/v1/checkpoints/{cid}/decision",  # an edit of another gate's shape
                          json={"action": "edit", "edit": {"files": {"a.py": ""}}}), 422)
    _is_error(client.post(f"/v1/checkpoints/{cid}/decision", json={"action": "edit"}), 422)  # no edit
    replies: list[httpx.Response] = []

    def decide(user: str) -> None:
        replies.append(server.client(user).post(
            f"/v1/checkpoints/{cid}/decision", json={"action": "reject", "reason": f"{user} says no"}))

    racers = [threading.Thread(target=decide, args=(u,)) for u in ("alice", "bob", "alice")]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(r.status_code for r in replies) == [200, 409, 409], [r.text for r in replies]
    winner = next(r.json() for r in replies if r.status_code == 200)
    decided = client.get(f"/v1/checkpoints/{cid}").json()
    assert decided["status"] == "decided" and decided["decision"]["decided_by"] == winner["decided_by"]
    assert decided["decision"]["reason"] == f"{winner['decided_by']} says no"
    _is_error(client.post(f"/v1/checkpoints/{cid}/decision", json={"action": "approve"}), 409)


def test_the_openapi_schema_documents_each_checkpoint_payload_by_kind(server: Server) -> None:
    schema = server.client().get("/openapi.json").json()
    components = schema["components"]["schemas"]
    one = schema["paths"]["/v1/checkpoints/{checkpoint_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    union = one["schema"]
    assert union["discriminator"]["propertyName"] == "kind"
    assert set(union["discriminator"]["mapping"]) == {"idea", "code", "finding", "paper"}
    code = components["CodeCheckpointOut"]["properties"]
    assert code["payload"]["$ref"].endswith("/CodePayload")
    fields = components["CodePayload"]["properties"]
    assert {"branch", "title", "hypothesis", "plan", "explanation", "diff", "diff_from_parent", "parent_metrics",
            "incumbent_metrics", "params", "files"} <= set(fields)
    assert {"branch", "verdict", "pairs", "critique", "metrics"} <= set(components["FindingPayload"]["properties"])
    assert {"branch", "hypothesis", "plan", "params"} <= set(components["IdeaPayload"]["properties"])
    assert {"revision", "markdown", "prose", "claims", "review", "figures", "pdf", "pdf_error"} <= set(
        components["PaperPayload"]["properties"])
    listed = schema["paths"]["/v1/checkpoints"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["items"]["discriminator"]["propertyName"] == "kind"
    body = schema["paths"]["/v1/checkpoints/{checkpoint_id}/decision"]["post"]["requestBody"]["content"]
    decision = components[body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert decision["properties"]["action"]["enum"] == ["approve", "reject", "edit"]


BRANCH = "round 2, slot 1 (r2s1): improve of r1s0"


def test_the_cli_lists_and_decides_checkpoints_through_the_server(server: Server) -> None:
    with server.store() as store:
        job_id = create_job(store, task_name="basic", task_dir="/nowhere", strategy="search", status="waiting").id
        Lifecycle(store).pause(Paused((Checkpoint(id=f"{job_id}-2-code-0", job_id=job_id, kind="code",
                                                  payload={"title": "use sockets", "branch": BRANCH},
                                                  flagged=["imports socket"]),)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABLOOP_")}
    env.update(LABLOOP_API_URL=server.url, LABLOOP_API_TOKEN=TOKENS["bob"], LABLOOP_HOME=str(server.home / "cli"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*LABLOOP, *args],
                              env=env, capture_output=True, text=True, timeout=60)

    listed = cli("checkpoints", "--json")
    assert listed.returncode == 0, listed.stderr
    assert f"{job_id}-2-code-0" in [c["id"] for c in json.loads(listed.stdout)]
    lines = cli("checkpoints").stdout.splitlines()  # the branch label tells parallel checkpoints apart
    assert any(f"{job_id}-2-code-0" in line and BRANCH in line for line in lines), lines
    rejected = cli("reject", f"{job_id}-2-code-0", "--reason", "no sockets in experiments", "--json")
    assert rejected.returncode == 0, rejected.stderr
    assert json.loads(rejected.stdout)["decided_by"] == "bob"
    again = cli("approve", f"{job_id}-2-code-0")
    assert again.returncode == 2 and ("already decided" in again.stderr or "can no longer" in again.stderr)
    # `jobs` lists the server's jobs (this CLI's own LABLOOP_HOME has none) ...
    jobs = cli("jobs", "--json")
    assert jobs.returncode == 0, jobs.stderr
    assert job_id in [j["id"] for j in json.loads(jobs.stdout)]
    env["LABLOOP_API_TOKEN"] = "wrong-token-000000"
    refused = cli("checkpoints")
    assert refused.returncode == 2 and "not valid" in refused.stderr
    # ... and this machine's own database when no server answers.
    env["LABLOOP_API_URL"] = f"http://127.0.0.1:{free_port()}"
    local = cli("jobs", "--json")
    assert local.returncode == 0 and json.loads(local.stdout) == [], local.stderr
    bad = cli("jobs", "--status", "finished")
    assert bad.returncode == 2 and "--status must be one of queued, running" in bad.stderr
    local_checkpoints = cli("checkpoints")
    assert local_checkpoints.returncode == 0 and "no pending checkpoints" in local_checkpoints.stderr


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABLOOP_")}
    env.update(LABLOOP_HOME=str(tmp_path), LABLOOP_HOST="0.0.0.0")
    refused = subprocess.run([*LABLOOP, "serve"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "refusing to listen on 0.0.0.0 without a token" in refused.stderr


def test_an_upload_past_the_size_cap_is_refused(make_server: Any) -> None:
    server = make_server(LABLOOP_UPLOAD_MAX_BYTES="4096").start()
    files = {**task_files("big"), "data.txt": "x" * 5000}
    _is_error(server.client().post("/v1/tasks", json={"files": files}), 413)  # refused at the edge, unread
    big = _tarball({k: v.encode() for k, v in files.items()})
    _is_error(server.client().post("/v1/tasks", content=big, headers={"content-type": "application/gzip"}), 422)
    assert server.client().get("/v1/tasks/big").status_code == 404
