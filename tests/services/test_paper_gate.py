"""The paper gate over HTTP and on the command line: a job with a paper waits until a human decides it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from agents.report import fmt
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

ONLY_THE_PAPER = {"idea": "never", "code": "never", "finding": "never", "paper": "always"}


def _paper_checkpoint(client: httpx.Client, job_id: str, server: Server, n: int) -> dict[str, object]:
    def pending() -> list[dict[str, object]]:
        return [c for c in client.get("/v1/checkpoints", params={"job_id": job_id, "status": "pending"}).json()
                if c["kind"] == "paper"]

    (checkpoint,) = wait_for(pending, what=f"paper checkpoint {n}", server=server)
    assert checkpoint["id"] == f"{job_id}-paper-{n}"
    return checkpoint


def _task_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "paperjob"
    folder.mkdir()
    for rel, text in task_files("paperjob").items():
        (folder / rel).write_text(text)
    return folder


def _review(server: Server, job_id: str) -> dict[str, object]:
    return dict(json.loads((server.home / "runs" / job_id / "paper" / "review.json").read_text()))


def test_the_paper_gate_is_decided_over_http_reject_revises_and_edit_rerenders(server: Server) -> None:
    client = server.client()
    upload(client, task_files("paperjob"))
    created = client.post("/v1/jobs", json={"task": "paperjob", "paper": True, "gates": ONLY_THE_PAPER})
    assert created.status_code == 201 and created.json()["paper"] is True, created.text
    job_id = created.json()["id"]

    first = _paper_checkpoint(client, job_id, server, 0)
    payload = first["payload"]
    assert isinstance(payload, dict) and payload["kind"] == "paper" and payload["revision"] == 0
    assert payload["source"] == "template" and payload["pdf"] == "paper/paper.pdf" and payload["claims"] == []
    assert "{{baseline}}" in payload["prose"]["abstract"]  # the prose as an edit replaces it, references unrendered
    assert job_status(client, job_id) == "waiting" and _review(server, job_id)["status"] == "drafted"

    reject = client.post(f"/v1/checkpoints/{first['id']}/decision", json={"action": "reject", "reason": "say more"})
    assert reject.status_code == 200, reject.text
    second = _paper_checkpoint(client, job_id, server, 1)  # one revision, asked again under 'always'
    assert second["payload"]["revision"] == 1  # type: ignore[index]

    bad = client.post(f"/v1/checkpoints/{second['id']}/decision", json={"action": "edit", "edit": {"files": {}}})
    assert bad.status_code == 422 and "title, abstract" in bad.json()["error"]["message"]
    edit = {"abstract": "Edited by a human: the best verified value is {{best}}, the baseline {{baseline}}."}
    decided = client.post(f"/v1/checkpoints/{second['id']}/decision", json={"action": "edit", "edit": edit})
    assert decided.status_code == 200, decided.text
    wait_for(lambda: job_status(client, job_id) == "succeeded", what="the job to end", server=server)

    job = client.get(f"/v1/jobs/{job_id}").json()
    summary = job["summary"]
    assert summary["paper"]["status"] == "published" and summary["paper"]["source"] == "human"
    paper = (server.home / "runs" / job_id / "paper" / "paper.md").read_text()
    best, baseline = summary["best"]["metrics"]["score"], summary["baseline"]["score"]
    assert f"Edited by a human: the best verified value is {fmt(best)}, the baseline {fmt(baseline)}." in paper
    assert _review(server, job_id)["status"] == "published"


def test_approving_the_paper_over_http_publishes_the_draft_as_it_is(server: Server) -> None:
    client = server.client()
    upload(client, task_files("paperok"))
    job_id = client.post("/v1/jobs", json={"task": "paperok", "paper": True, "gates": ONLY_THE_PAPER}).json()["id"]
    checkpoint = _paper_checkpoint(client, job_id, server, 0)
    drafted = (server.home / "runs" / job_id / "paper" / "paper.md").read_text()

    approved = client.post(f"/v1/checkpoints/{checkpoint['id']}/decision", json={"action": "approve"})

    assert approved.status_code == 200, approved.text
    wait_for(lambda: job_status(client, job_id) == "succeeded", what="the job to end", server=server)
    assert (server.home / "runs" / job_id / "paper" / "paper.md").read_text() == drafted  # not written again
    assert _review(server, job_id)["status"] == "published"
    assert client.get(f"/v1/jobs/{job_id}").json()["summary"]["paper"]["status"] == "published"


def test_an_unattended_run_stops_at_the_paper_gate_with_exit_3_and_approve_publishes(tmp_path: Path) -> None:
    folder = _task_folder(tmp_path)
    env = server_env(tmp_path / "home", free_port())
    gates = [arg for kind, policy in ONLY_THE_PAPER.items() for arg in ("--gate", f"{kind}={policy}")]

    waiting = subprocess.run([*LABLOOP, "run", str(folder), "--paper", *gates], env=env, capture_output=True,
                             text=True, timeout=300, stdin=subprocess.DEVNULL)

    assert waiting.returncode == 3, waiting.stderr
    job_id = next(line.split()[1] for line in waiting.stderr.splitlines() if line.startswith("job ") and "created" in line)
    assert f"paper checkpoint {job_id}-paper-0" in waiting.stderr
    assert not (tmp_path / "home" / "runs" / job_id / "paper" / "review.json").read_text().count('"published"')

    approved = subprocess.run([*LABLOOP, "approve", f"{job_id}-paper-0"], env=env, capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)

    assert approved.returncode == 0, approved.stderr
    assert "paper (published):" in approved.stdout and "paper.pdf" in approved.stdout
    review = json.loads((tmp_path / "home" / "runs" / job_id / "paper" / "review.json").read_text())
    assert review["status"] == "published"


def test_resume_with_paper_writes_one_for_a_job_that_has_not_ended_and_refuses_a_finished_one(tmp_path: Path) -> None:
    folder = _task_folder(tmp_path)
    env = server_env(tmp_path / "home", free_port())

    def labloop(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*LABLOOP, *args], env=env, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)

    def created(done: subprocess.CompletedProcess[str]) -> str:
        return next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("job ") and "created" in line)

    waiting = labloop("run", str(folder), "--gate", "idea=always")
    assert waiting.returncode == 3, waiting.stderr
    job_id = created(waiting)
    resumed = labloop("resume", job_id, "--paper", "--auto-approve")
    assert resumed.returncode == 0, resumed.stderr
    assert "paper (published):" in resumed.stdout
    assert (tmp_path / "home" / "runs" / job_id / "paper" / "paper.pdf").stat().st_size > 1000

    finished = labloop("run", str(folder), "--auto-approve")
    assert finished.returncode == 0 and "paper (" not in finished.stdout, finished.stderr
    refused = labloop("resume", created(finished), "--paper")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "--paper applies to a job that has not ended" in refused.stderr and "labloop run TASK --paper" in refused.stderr
