"""The same service on PostgreSQL (app database and graph checkpoints): a gated job end to end."""

from __future__ import annotations

import pytest

from tests.services.conftest import ServerFactory, job_status, task_files, upload, wait_for
from tests.utils.databases import postgres_database

pytestmark = [pytest.mark.postgres, pytest.mark.docker]


def test_a_gated_job_runs_to_its_report_on_postgres(make_server: ServerFactory, sandbox_image: str) -> None:
    with postgres_database() as url:
        server = make_server(LABLOOP_DATABASE_URL=url).start()
        client = server.client()
        upload(client, task_files("quick"))
        job_id = client.post("/v1/jobs", json={"task": "quick", "gates": {"idea": "never", "code": "always",
                                                                           "finding": "never"}}).json()["id"]
        checkpoint = wait_for(lambda: client.get("/v1/checkpoints", params={"job_id": job_id}).json(),
                              what="the checkpoint", server=server)[0]
        decided = client.post(f"/v1/checkpoints/{checkpoint['id']}/decision", json={"action": "approve"})
        assert decided.status_code == 200, decided.text
        assert client.post(f"/v1/checkpoints/{checkpoint['id']}/decision", json={"action": "approve"}).status_code == 409
        wait_for(lambda: job_status(client, job_id) in ("succeeded", "failed"), timeout=120,
                 what="the job to finish", server=server)
        assert job_status(client, job_id) == "succeeded", client.get(f"/v1/jobs/{job_id}").json()
        assert client.get(f"/v1/jobs/{job_id}/report").status_code == 200
        assert client.get("/readyz").json()["checks"]["database"] == "ok"
        server.kill()
