"""The review app against a real server: served without a token, strict CSP, calling only API routes that exist."""

from __future__ import annotations

import re

import httpx

from services.api.routes.review import app_files
from tests.services.conftest import Server

# api("METHOD", PATH_EXPRESSION[, body]) in the app's scripts; the path may concatenate expressions.
API_CALL = re.compile(r'api\("([A-Z]+)",\s*((?:"[^"]*"|\([^()]*\)|[^,"()])+)[,)]')


def _app_calls(source: str) -> set[tuple[str, str]]:
    """(method, path) of every API call in the scripts, each non-literal part of a path as '{}'."""
    calls = set()
    for method, expression in API_CALL.findall(source):
        parts = [p.strip() for p in expression.split("+")]
        path = "".join(p[1:-1] if p.startswith('"') else "{}" for p in parts)
        calls.add((method.lower(), path.split("?")[0]))
    return calls


def _matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\\{[^/]*\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path.replace("{}", "x")) is not None


def test_the_app_is_served_without_a_token_under_a_strict_policy(server: Server) -> None:
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe" not in policy, "no inline script or style, no eval"
    for name in app_files():
        reply = httpx.get(f"{server.url}/app/{name}")
        assert reply.status_code == 200, name
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)|<script>|style=", reply.text), f"{name} loads or inlines something"
    assert "sessionStorage" in httpx.get(f"{server.url}/app/api.js").text
    assert httpx.get(f"{server.url}/app/nothing.js").status_code == 404
    assert httpx.get(f"{server.url}/app/..%2Fschemas.py").status_code in (404, 422)


def test_the_old_review_address_leads_to_the_checkpoint_list(server: Server) -> None:
    reply = httpx.get(f"{server.url}/review")
    assert reply.status_code == 307 and reply.headers["location"] == "/#/checkpoints"


def test_every_api_call_of_the_app_exists_in_the_schema(server: Server) -> None:
    source = "\n".join(body.decode() for name, (body, _) in app_files().items() if name.endswith(".js"))
    calls = _app_calls(source)
    for needed in [("get", "/v1/checkpoints"), ("post", "/v1/checkpoints/{}/decision"), ("get", "/v1/jobs"),
                   ("post", "/v1/jobs"), ("get", "/v1/schedules"), ("patch", "/v1/schedules/{}"), ("post", "/v1/tasks")]:
        assert needed in calls, (needed, calls)
    schema = server.client().get("/openapi.json").json()
    for method, path in calls:
        operations = [ops for template, ops in schema["paths"].items() if _matches(template, path)]
        assert operations, f"the app calls {path}, which the API does not have"
        assert any(method in ops for ops in operations), f"the app calls {method.upper()} {path}, not in the API"
