"""Request bodies are strictly typed, and who made a job is named clearly with one token or none."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.settings import Settings
from tests.services.conftest import Server, ServerFactory, task_files, upload


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/jobs", {"task": "typed", "budget": {"iterations": "4"}}, "budget.iterations"),
        ("/v1/jobs", {"task": "typed", "budget": {"experiment_timeout_s": "30"}}, "budget.experiment_timeout_s"),
        ("/v1/jobs", {"task": "typed", "budget": {"iterations": 2.0}}, "budget.iterations"),
        ("/v1/schedules", {"cron": "0 9 * * *", "template": {"task": "typed", "budget": {"iterations": "4"}}},
         "template.budget.iterations"),
        ("/v1/schedules", {"cron": "0 9 * * *", "template": {"task": "typed"}, "enabled": "true"}, "enabled"),
    ],
)
def test_a_number_or_flag_sent_as_a_string_is_a_422_naming_the_field(
    server: Server, path: str, body: dict[str, Any], field: str
) -> None:
    client = server.client()
    if client.get("/v1/tasks/typed").status_code == 404:
        upload(client, task_files("typed"))
    jobs_before = len(client.get("/v1/jobs").json())
    reply = client.post(path, json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["message"].startswith(f"{field}: "), reply.text
    assert len(client.get("/v1/jobs").json()) == jobs_before  # nothing was made


def _created_by(server: Server, client: httpx.Client) -> str:
    upload(client, task_files("whose"))
    made = client.post("/v1/jobs", json={"task": "whose", "budget": {"iterations": 1}, "gates": {"idea": "always"}})
    assert made.status_code == 201, made.text
    assert client.get(f"/v1/jobs/{made.json()['id']}").json()["created_by"] == made.json()["created_by"]
    return str(made.json()["created_by"])


def test_a_token_less_server_records_its_callers_as_local(make_server: ServerFactory) -> None:
    server = make_server(LABLOOP_API_TOKENS="").start()
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        assert _created_by(server, anonymous) == "local"


def test_the_single_token_user_is_owner_or_the_name_set_for_it(make_server: ServerFactory, tmp_path: Any) -> None:
    server = make_server(LABLOOP_API_TOKENS="", LABLOOP_API_TOKEN="single-token-0000").start()
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": "Bearer single-token-0000"}) as client:
        assert _created_by(server, client) == "owner"
    named = Settings(home=tmp_path, api_token="t0k3n-0000", api_token_user="carol")  # type: ignore[arg-type]
    assert named.tokens() == {"t0k3n-0000": "carol"}
