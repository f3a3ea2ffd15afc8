"""An OpenAI-compatible chat server for tests: a real local HTTP server replaying scripted replies.

The real ``openai`` client talks to it over HTTP. Replies are scripted per step (the
``Step: <name>.`` line of labloop's system prompt), so a test says what the model answers at
ideate, implement, debug and review without caring about call order across steps. Every
request is recorded, so a test can read the prompts the graph sent.

    with FakeLLM({"ideate": [IDEA], "implement": [CHANGE]}) as llm:
        model = OpenAIChatModel(model="fake", base_url=llm.base_url)

A scripted item is a reply text, a :class:`Scripted` (text plus forced token usage), a
:class:`Huge` reply streamed without being held in memory, or an int HTTP status to fail with
(e.g. 503, for the retry path).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_STEP = re.compile(r"Step: (\w+)\.")


@dataclass(frozen=True)
class Scripted:
    """A reply with a forced usage count (to test token budgets exactly) or finish reason."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"  # "length": the reply was cut at the request's max_tokens


@dataclass(frozen=True)
class Huge:
    """A reply whose content is ``size`` bytes of filler, streamed in chunks (never built whole).

    ``declared``: send a Content-Length (else the body ends when the connection closes).
    """

    size: int
    declared: bool = True


Item = str | Scripted | Huge | int


@dataclass
class FakeLLM:
    """The server; use as a context manager. ``requests`` holds every request body received."""

    script: dict[str, list[Item]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    json_mode: bool = True  # False: refuse response_format with a 400, as some local servers do
    streamed: list[int] = field(default_factory=list)  # bytes of each Huge reply written before the client left

    def __post_init__(self) -> None:
        self.script = {step: list(items) for step, items in self.script.items()}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL to give the client."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, step: str, *items: Item) -> None:
        """Script more replies for ``step``."""
        with self._lock:
            self.script.setdefault(step, []).extend(items)

    def prompts(self, step: str) -> list[str]:
        """The user-visible text of every request made at ``step`` (all messages joined)."""
        return ["\n".join(m.get("content", "") for m in r["messages"]) for r in self.requests
                if step_of(r["messages"]) == step]

    def calls(self, step: str | None = None) -> int:
        """How many requests were made (at ``step``, or in all)."""
        return sum(1 for r in self.requests if step is None or step_of(r["messages"]) == step)

    def _next(self, body: dict[str, Any]) -> Item:
        step = step_of(body.get("messages", []))
        with self._lock:
            self.requests.append(body)
            queue = self.script.get(step or "", [])
            if not queue:
                return 400
            return queue.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            """POST /v1/chat/completions: the next scripted reply of the request's step."""

            def log_message(self, *_args: Any) -> None:  # keep test output quiet
                return

            def do_POST(self) -> None:
                """Answer one chat-completion request."""
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if not fake.json_mode and "response_format" in body:
                    fake.requests.append(body)
                    return self._send(400, {"error": {"message": "response_format is not supported"}})
                item = fake._next(body)
                if isinstance(item, int):
                    return self._send(item, {"error": {"message": f"scripted failure {item} "
                                                                  f"(or no reply scripted for this step)"}})
                if isinstance(item, Huge):
                    return self._stream(body, item)
                self._send(200, completion(body, item))

            def _stream(self, body: Mapping[str, Any], item: Huge) -> None:
                head, tail = json.dumps(completion(body, _FILLER)).encode().split(_FILLER.encode())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if item.declared:
                    self.send_header("Content-Length", str(len(head) + item.size + len(tail)))
                self.end_headers()
                sent = 0
                chunk = b"a" * 65536
                try:
                    self.wfile.write(head)
                    while sent < item.size:
                        part = chunk[: item.size - sent]
                        self.wfile.write(part)
                        sent += len(part)
                    self.wfile.write(tail)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading: what the reply-size cap is for
                finally:
                    fake.streamed.append(sent)
                    self.close_connection = True

            def _send(self, status: int, payload: Mapping[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


_FILLER = "<<filler>>"


def step_of(messages: Sequence[Mapping[str, str]]) -> str | None:
    """The labloop step a request belongs to (from its system prompt)."""
    for message in messages:
        match = _STEP.search(message.get("content", ""))
        if match:
            return match.group(1)
    return None


def completion(body: Mapping[str, Any], item: str | Scripted) -> dict[str, Any]:
    """An OpenAI chat-completion response for ``item``, with usage counts."""
    reply = item if isinstance(item, Scripted) else Scripted(item)
    prompt_chars = sum(len(m.get("content", "")) for m in body.get("messages", []))
    prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else math.ceil(prompt_chars / 4)
    completion_tokens = (reply.completion_tokens if reply.completion_tokens is not None
                         else math.ceil(len(reply.text) / 4))
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                     "message": {"role": "assistant", "content": reply.text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def served(script: Mapping[str, Sequence[Item]]) -> Iterator[FakeLLM]:
    """A generator for pytest fixtures: a running server with ``script``, shut down after."""
    with FakeLLM({k: list(v) for k, v in script.items()}) as llm:
        yield llm
