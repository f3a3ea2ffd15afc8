"""A Semantic Scholar-compatible literature search for tests: a real local HTTP server, scripted.

Each request takes the next scripted item (or ``default`` once the script is spent), so a test
says what the service answers without mocking the client:

    with FakeLiterature([Reply(429), Reply(200, {"data": [...]})]) as lit:
        search(lit.base_url, "attention", sleep=slept.append)

An item is a :class:`Reply` (status, JSON or raw body, headers), a :class:`Hang` that answers
nothing until the server closes, a :class:`Drip` that sends a byte at a time, or a :class:`Huge`
body streamed without being held in memory. Every request is recorded (path, query, headers).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    """A whole reply: ``body`` is JSON-encoded unless it is bytes."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang:
    """No reply at all until the server shuts down."""


@dataclass(frozen=True)
class Drip:
    """A 200 whose body comes one byte every ``every_s`` seconds, for ever."""

    every_s: float = 0.05


@dataclass(frozen=True)
class Huge:
    """A 200 with ``size`` bytes of body; ``declared``: send a Content-Length (else close-delimited)."""

    size: int
    declared: bool = True


Item = Reply | Hang | Drip | Huge


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeLiterature:
    """The server; use as a context manager."""

    def __init__(self, script: list[Item] | None = None, default: Item = Reply(404, {"error": "unscripted"})):
        self.script = list(script or [])
        self.default = default
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # a short poll: shutdown() waits for it, once per test
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeLiterature:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closing.set()  # releases any Hang or Drip still holding a connection
        self._server.shutdown()
        self._server.server_close()

    def add(self, *items: Item) -> None:
        with self._lock:
            self.script.extend(items)

    def _next(self, request: Request) -> Item:
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                item = fake._next(Request(url.path, query, {k.lower(): v for k, v in self.headers.items()}))
                try:
                    self._answer(item)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading, which is what a cap or a timeout is for
                finally:
                    self.close_connection = True

            def _answer(self, item: Item) -> None:
                if isinstance(item, Hang):
                    fake._closing.wait(30)
                    return
                if isinstance(item, Drip):
                    self._head(200, {"Content-Type": "application/json"})
                    while not fake._closing.wait(item.every_s):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                    return
                if isinstance(item, Huge):
                    self._head(200, {"Content-Type": "application/json",
                                     **({"Content-Length": str(item.size)} if item.declared else {})})
                    chunk, sent = b" " * 65536, 0
                    while sent < item.size and not fake._closing.is_set():
                        part = chunk[: item.size - sent]
                        self.wfile.write(part)
                        sent += len(part)
                    return
                data = item.body if isinstance(item.body, bytes) else json.dumps(item.body).encode()
                self._head(item.status, {"Content-Type": "application/json",
                                         "Content-Length": str(len(data)), **item.headers})
                self.wfile.write(data)

            def _head(self, status: int, headers: Mapping[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()

        return Handler


def paper(title: Any, *authors: str, year: Any = 2017, venue: str = "NeurIPS", url: str = "") -> dict[str, Any]:
    """One entry of a search reply, as the Academic Graph API shapes it."""
    return {"paperId": f"p{time.monotonic_ns()}", "title": title, "authors": [{"name": a} for a in authors],
            "year": year, "venue": venue, "url": url}
