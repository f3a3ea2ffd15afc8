"""The review page against a real server: served without a token, and calling only API routes that exist."""

from __future__ import annotations

import re

import httpx

from tests.services.conftest import Server

# api("METHOD", PATH_EXPRESSION[, body]) in the page's script; the path may concatenate expressions.
API_CALL = re.compile(r'api\("([A-Z]+)",\s*((?:"[^"]*"|\([^()]*\)|[^,"()])+)[,)]')


def _page_calls(html: str) -> set[tuple[str, str]]:
    """(method, path) of every API call in the page, each non-literal part of a path as '{}'."""
    calls = set()
    for method, expression in API_CALL.findall(html):
        parts = [p.strip() for p in expression.split("+")]
        path = "".join(p[1:-1] if p.startswith('"') else "{}" for p in parts)
        calls.add((method.lower(), path.split("?")[0]))
    return calls


def _matches(template: str, path: str) -> bool:
    pattern = re.sub(r"\\\{[^/]*\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path.replace("{}", "x")) is not None


def test_the_review_page_is_served_without_a_token(server: Server) -> None:
    page = httpx.get(f"{server.url}/review")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script>" in page.text and "sessionStorage" in page.text
    assert not re.search(r"https?:|src=|href=", page.text), "the page must load nothing from elsewhere"
    policy = page.headers["content-security-policy"]
    assert "script-src 'sha256-" in policy and "connect-src 'self'" in policy


def test_every_api_call_of_the_page_exists_in_the_schema(server: Server) -> None:
    calls = _page_calls(httpx.get(f"{server.url}/review").text)
    assert ("get", "/v1/checkpoints") in calls and ("post", "/v1/checkpoints/{}/decision") in calls, calls
    schema = server.client().get("/openapi.json").json()
    for method, path in calls:
        operations = [ops for template, ops in schema["paths"].items() if _matches(template, path)]
        assert operations, f"the page calls {path}, which the API does not have"
        assert any(method in ops for ops in operations), f"the page calls {method.upper()} {path}, not in the API"
    listing = schema["paths"]["/v1/checkpoints"]["get"]
    assert "status" in {p["name"] for p in listing["parameters"]}
