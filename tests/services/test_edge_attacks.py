"""Attacks on the server's edge, against real ``labloop serve`` processes.

DNS rebinding (a foreign Host on a token-less server), bodies of 100 MB before authentication,
JSON nested 100 000 deep, a flood of event streams, and artifacts a browser could be made to run.
"""

from __future__ import annotations

import json
import select
import socket
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from agents.protocols import ExperimentRecord
from services.api.bodies import MAX_JSON_DEPTH, json_too_deep
from services.store import SqlJournal, create_job
from tests.services.conftest import TOKENS, Server, ServerFactory, task_files, upload, wait_for

MB = 1024 * 1024
AUTH = {"Authorization": f"Bearer {TOKENS['alice']}"}


def _is_error(reply: httpx.Response, status: int, code: str | None = None) -> dict[str, str]:
    assert reply.status_code == status, (reply.status_code, reply.text[:300])
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"} and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return dict(body["error"])


# --- DNS rebinding -------------------------------------------------------------------------------

def test_a_token_less_server_answers_loopback_names_only(make_server: ServerFactory) -> None:
    # The setting names the attacker's host: a token-less server must ignore it.
    server = make_server(LABLOOP_API_TOKENS="", LABLOOP_ALLOWED_HOSTS="attacker.example").start()
    client = server.client(user=None)
    for host in ("attacker.example", f"attacker.example:{server.port}", "localhost.attacker.example",
                 "127.0.0.1.nip.io", f"localhost:{server.port}x", ""):
        headers = {"Host": host}
        _is_error(client.get("/v1/jobs", headers=headers), 400, "host_not_allowed")
        upload_reply = client.post("/v1/tasks", json={"files": task_files("rebound")}, headers=headers)
        _is_error(upload_reply, 400, "host_not_allowed")
        _is_error(client.post("/v1/jobs", json={"task": "rebound"}, headers=headers), 400, "host_not_allowed")
    for host in ("localhost", f"localhost:{server.port}", f"127.0.0.1:{server.port}", f"[::1]:{server.port}",
                 "LOCALHOST"):
        reply = client.get("/v1/jobs", headers={"Host": host})
        assert reply.status_code == 200, (host, reply.text)
    assert client.get("/v1/tasks").json() == []  # no rebound upload was stored
    assert upload(client, task_files("local"))["name"] == "local"


def test_a_server_with_tokens_answers_the_names_it_is_given(make_server: ServerFactory) -> None:
    server = make_server(LABLOOP_ALLOWED_HOSTS="lab.example.org, *.lab.example.net").start()
    client = server.client()
    for host in ("lab.example.org", f"lab.example.org:{server.port}", "eu.lab.example.net", "127.0.0.1"):
        reply = client.get("/v1/jobs", headers={"Host": host})
        assert reply.status_code == 200, (host, reply.text)
    for host in ("attacker.example", "lab.example.org.attacker.example", "lab.example.net"):
        _is_error(client.get("/v1/jobs", headers={"Host": host}), 400, "host_not_allowed")
    assert client.get("/healthz", headers={"Host": "lab.example.org"}).json() == {"status": "ok"}


# --- bodies before authentication ----------------------------------------------------------------

def _memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0])
    return fields


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """The status and JSON body of the HTTP response waiting on ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"the server closed the connection without an answer: {data!r}"
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        piece = sock.recv(65536)
        assert piece, "the server closed the connection in the middle of its answer"
        rest += piece
    return int(lines[0].split()[1]), json.loads(rest[:length])["error"]


def _post_huge(port: int, path: str, *, size: int, chunked: bool, token: str | None) -> tuple[int, dict[str, str], int]:
    """POST ``size`` bytes to ``path``, stopping as soon as the server answers: (status, error, bytes sent)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    head += f"Authorization: Bearer {token}\r\n" if token else ""
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {size}\r\n\r\n"
    piece = b'{"task": "' + b"a" * (MB - 20) + b'", "x": 1}'
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        sent = 0
        try:
            while sent < size:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered: a refusal does not wait for the rest
                chunk = piece[: size - sent]
                sock.sendall(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                sent += len(chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, error = _read_response(sock)
    return status, error, sent


def test_a_100_mb_body_is_refused_before_it_is_read(make_server: ServerFactory) -> None:
    server = make_server().start()
    assert server.proc is not None
    pid = server.proc.pid
    for _ in range(3):  # warm the routes up, so their first use is not counted as the attack's
        _post_huge(server.port, "/v1/jobs", size=200_000, chunked=False, token=None)
        _post_huge(server.port, "/v1/jobs", size=200_000, chunked=True, token=TOKENS["alice"])
    before = _memory_kb(pid)
    attacks = [
        ("no token, Content-Length", None, False, 401),
        ("no token, chunked", None, True, 401),
        ("a wrong token, Content-Length", "tok-wrong", False, 401),
        ("a token, Content-Length", TOKENS["alice"], False, 413),
        ("a token, chunked", TOKENS["alice"], True, 413),
    ]
    answers = [(what, expected, *_post_huge(server.port, "/v1/jobs", size=100 * MB, chunked=chunked, token=token))
               for what, token, chunked, expected in attacks]
    after = _memory_kb(pid)
    grown_mb = (after["VmHWM"] - before["VmHWM"]) / 1024
    assert grown_mb < 50, f"peak RSS grew by {grown_mb:.0f} MB ({before} -> {after}): {answers}"
    for what, expected, status, error, sent in answers:
        assert status == expected, (what, status, error)
        assert error["code"] == ("unauthorized" if expected == 401 else "too_large") and error["message"], error
        assert sent < 100 * MB, f"{what}: the server only answered after the whole body"
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_body_is_refused_before_the_server_waits_for_it(make_server: ServerFactory) -> None:
    server = make_server(LABLOOP_BODY_MAX_BYTES=str(64 * 1024)).start()

    def answer_to(headers: str, start: bytes) -> tuple[int, dict[str, str]]:
        # Headers that promise a large body, then 1 KB of it: an answer can only come from the edge.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall((f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"{headers}\r\n").encode() + start)
            return _read_response(sock)

    status, error = answer_to(f"Content-Length: {100 * MB}\r\n", b"[" * 1024)
    assert status == 401 and error["code"] == "unauthorized"
    status, error = answer_to(f"Authorization: Bearer {TOKENS['bob']}\r\nContent-Length: {100 * MB}\r\n", b"[" * 1024)
    assert status == 413 and "LABLOOP_BODY_MAX_BYTES" in error["message"]
    status, error = answer_to("Transfer-Encoding: chunked\r\n", b"400\r\n" + b"[" * 1024 + b"\r\n")
    assert status == 401
    client = server.client()
    _is_error(client.post("/v1/jobs", content=b'{"task": "' + b"a" * 70_000 + b'"}',
                          headers={"content-type": "application/json"}), 413, "too_large")
    # Task uploads keep their own, larger cap.
    files = {**task_files("roomy"), "data.txt": "x" * 100_000}
    assert upload(client, files)["name"] == "roomy"
    _is_error(client.post("/v1/tasks", json={"files": {**files, "data.txt": "x" * (21 * MB)}}), 413, "too_large")


# --- JSON nested deep ----------------------------------------------------------------------------

def _nested(depth: int, leaf: str = "1") -> str:
    return '{"a": ' * depth + leaf + "}" * depth


def test_json_depth_is_measured_on_the_text() -> None:
    assert not json_too_deep(("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH).encode())
    assert json_too_deep(("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode())
    assert not json_too_deep(_nested(MAX_JSON_DEPTH).encode())
    assert json_too_deep(_nested(MAX_JSON_DEPTH + 1).encode())
    assert not json_too_deep(('[{"k": ' * 32 + "1" + "}]" * 32).encode())  # 64 deep, two kinds alternating
    assert json_too_deep(('[{"k": ' * 32 + "[1]" + "}]" * 32).encode())
    wide = json.dumps([[i, {"v": [i]}] for i in range(5000)]).encode()  # many brackets, 4 deep
    assert not json_too_deep(wide)
    in_strings = json.dumps({"text": "[" * 500 + '\\"{' * 200, "list": ["]]]{{{"] * 100}).encode()
    assert not json_too_deep(in_strings)
    assert not json_too_deep(b"]" * 200 + b"[" * 10)  # unbalanced but shallow: left to the parser


def test_json_nested_100_000_deep_gets_a_4xx_and_the_server_stays_up(server: Server) -> None:
    client = server.client()
    upload(client, task_files("deep"))
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/v1/tasks", "/v1/jobs", "/v1/schedules", "/v1/checkpoints/cp-x/decision"):
        for body in (deep, _nested(100_000), '{"files": ' + _nested(70, '"x"') + "}"):
            reply = client.post(path, content=body.encode(), headers={"content-type": "application/json"})
            _is_error(reply, 422, "too_deep")
    no_type = httpx.post(f"{server.url}/v1/jobs", content=deep.encode(), headers=AUTH)
    _is_error(no_type, 422, "too_deep")  # FastAPI parses a body without a content type as JSON
    budget = {"task": "deep", "budget": json.loads(_nested(MAX_JSON_DEPTH - 2))}
    assert client.post("/v1/jobs", json=budget).json()["error"]["code"] != "too_deep"
    brackets_in_a_string = client.post("/v1/jobs", json={"task": "[" * 1000 + "{" * 1000})
    assert brackets_in_a_string.json()["error"]["code"] != "too_deep"
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/v1/tasks/deep").status_code == 200


# --- event streams -------------------------------------------------------------------------------

def test_event_streams_are_capped_per_token_and_a_closed_one_frees_its_place(make_server: ServerFactory) -> None:
    server = make_server(LABLOOP_MAX_EVENT_STREAMS="3").start()
    with server.store() as store:  # a waiting job: its streams stay open
        job_id = create_job(store, task_name="t", task_dir="/nowhere", strategy="search", status="waiting").id
    path = f"/v1/jobs/{job_id}/events"
    with ExitStack() as stack:
        alice, bob = stack.enter_context(server.client()), stack.enter_context(server.client("bob"))
        streams = [stack.enter_context(alice.stream("GET", path)) for _ in range(3)]
        assert [s.status_code for s in streams] == [200, 200, 200]
        refused = alice.get(path, timeout=10)  # an accepted stream would not end: a timeout
        error = _is_error(refused, 429, "too_many_streams")
        assert "LABLOOP_MAX_EVENT_STREAMS" in error["message"] and refused.headers["retry-after"]
        with bob.stream("GET", path) as other:  # another token has its own places
            assert other.status_code == 200
        streams[0].close()

        def reopened() -> httpx.Response | None:
            reply = stack.enter_context(alice.stream("GET", path))
            return reply if reply.status_code == 200 else None

        wait_for(reopened, timeout=15, what="a closed stream to free its place", server=server)
        _is_error(alice.get(path, timeout=10), 429, "too_many_streams")


def test_a_token_less_server_caps_event_streams_per_client_address(make_server: ServerFactory) -> None:
    server = make_server(LABLOOP_API_TOKENS="", LABLOOP_MAX_EVENT_STREAMS="2").start()
    with server.store() as store:
        job_id = create_job(store, task_name="t", task_dir="/nowhere", strategy="search", status="waiting").id
    with ExitStack() as stack:
        client = stack.enter_context(server.client(user=None))
        for _ in range(2):
            assert stack.enter_context(client.stream("GET", f"/v1/jobs/{job_id}/events")).status_code == 200
        _is_error(client.get(f"/v1/jobs/{job_id}/events", timeout=10), 429, "too_many_streams")
        assert client.get(f"/v1/jobs/{job_id}").status_code == 200  # other routes are not capped


# --- files an experiment wrote -------------------------------------------------------------------

def test_artifacts_and_reports_are_served_so_that_no_browser_runs_them(server: Server, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "page.html").write_text("<script>fetch('/v1/jobs')</script>")
    with server.store() as store:
        job_id = create_job(store, task_name="t", task_dir="/nowhere", strategy="search", status="failed").id
        SqlJournal(store).record_experiment(ExperimentRecord(
            id=f"{job_id}-exp", job_id=job_id, iteration=0, role="baseline", params={}, seed=0,
            status="succeeded", output_dir=str(outputs)))
    report = server.home / "runs" / job_id / "report.md"
    report.parent.mkdir(parents=True)
    report.write_text("# <img src=x onerror=alert(1)>\n\n![figure](figure.svg)\n")
    (report.parent / "figure.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    client = server.client()
    for path in (f"/v1/experiments/{job_id}-exp/artifacts/page.html", f"/v1/jobs/{job_id}/report",
                 f"/v1/jobs/{job_id}/files/figure.svg"):
        reply = client.get(path)
        assert reply.status_code == 200, reply.text
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["content-security-policy"] == "default-src 'none'; sandbox"
    artifact = client.get(f"/v1/experiments/{job_id}-exp/artifacts/page.html")
    assert artifact.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize("value", ["http://lab.example.org", "lab.example.org:8000", "lab example"])
def test_allowed_hosts_must_be_host_names(value: str, tmp_path: Path) -> None:
    from agents.errors import ConfigError
    from services.settings import Settings

    with pytest.raises((ConfigError, ValueError), match="LABLOOP_ALLOWED_HOSTS"):
        Settings(home=tmp_path, allowed_hosts=value)
