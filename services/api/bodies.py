"""Request bodies within bounds before any route parses them: a size cap, and a JSON depth cap.

A body is refused with 413 as soon as it is known to be too large: at once when its
Content-Length says so, else when the bytes received pass the cap (chunked bodies), so at most
the cap and one chunk are ever held. A JSON body (or one without a content type, which FastAPI
parses as JSON) is read whole within its cap on the route's first read and refused with 422 when
it nests arrays and objects deeper than MAX_JSON_DEPTH: no parser then recurses into a hostile
document, and nothing deeper than that reaches the stores.
"""

from __future__ import annotations

import re

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.edge import header_values
from services.api.errors import send_error

MAX_JSON_DEPTH = 64
OFF_LOOP_BYTES = 256 * 1024
UPLOAD_PATH = "/v1/tasks"  # task uploads have their own, larger cap (LABLOOP_UPLOAD_MAX_BYTES)

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STEP = np.zeros(256, dtype=np.int8)  # how each byte moves the nesting depth
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
_SLICE = 1024 * 1024  # bytes measured at a time: a 20 MiB body never needs 80 MiB of running depths
_DISCONNECT: Message = {"type": "http.disconnect"}


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON text ``body`` nests arrays and objects more than ``limit`` deep.

    Measured on the text, without parsing (so without recursion): strings are cut out, then the
    running count of open brackets is taken with numpy, a slice at a time. Text that is not
    balanced JSON is left to the parser to refuse, unless it opens more than ``limit`` brackets.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    text = np.frombuffer(_STRING.sub(b"", body), dtype=np.uint8)
    depth = 0
    for start in range(0, len(text), _SLICE):
        running = depth + np.cumsum(_STEP[text[start : start + _SLICE]], dtype=np.int32)
        if int(running.max()) > limit:
            return True
        depth = int(running[-1])
    return False


def is_json(content_type: str | None) -> bool:
    """True when the route will parse the body as JSON (FastAPI does so without a content type too)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or media.endswith("+json")


class _MeteredBody:
    """The request's ``receive``, counting body bytes; a refusal ends the body as a disconnect."""

    def __init__(self, receive: Receive, *, limit: int, setting: str, whole_json: bool) -> None:
        self._receive = receive
        self.limit = limit
        self.setting = setting
        self.received = 0
        self.whole_json = whole_json  # read the whole body on the first read, to measure its depth
        self.refusal: tuple[int, str, str] | None = None

    async def receive(self) -> Message:
        """The next message for the route: the body's, or a disconnect once the body is refused."""
        if self.refusal is not None:
            return _DISCONNECT
        if self.whole_json:
            self.whole_json = False
            return await self._read_whole_json()
        message = await self._receive()
        if message["type"] == "http.request" and not self._count(message):
            return _DISCONNECT
        return message

    def _count(self, message: Message) -> bool:
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            self.refusal = (413, "too_large", self.too_large())
            return False
        return True

    def too_large(self) -> str:
        """The 413's message."""
        return f"the request body is larger than {self.limit} bytes ({self.setting}); send less"

    async def _read_whole_json(self) -> Message:
        chunks: list[bytes] = []
        while True:
            message = await self._receive()
            if message["type"] != "http.request":
                return message
            if not self._count(message):
                return _DISCONNECT
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # A large upload takes tens of milliseconds to measure: off the event loop then.
        too_deep = json_too_deep(body) if len(body) < OFF_LOOP_BYTES else await run_in_threadpool(json_too_deep, body)
        if too_deep:
            self.refusal = (422, "too_deep", f"the JSON body nests arrays and objects more than {MAX_JSON_DEPTH} "
                                             "levels deep; send a flatter document")
            return _DISCONNECT
        return {"type": "http.request", "body": body, "more_body": False}


class BodyGuard:
    """Refuse a body past its cap (413) or JSON nested too deep (422) before the route reads it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes

    def limit_for(self, scope: Scope) -> tuple[int, str]:
        """The cap of this request's body and the setting that sets it: task uploads have their own."""
        if scope["method"] == "POST" and scope["path"].rstrip("/") == UPLOAD_PATH:
            return self.upload_max_bytes, "LABLOOP_UPLOAD_MAX_BYTES"
        return self.max_bytes, "LABLOOP_BODY_MAX_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked, content_type = header_values(scope, b"content-length", b"transfer-encoding",
                                                        b"content-type")
        limit, setting = self.limit_for(scope)
        if declared is not None and not declared.strip().isdigit():
            await send_error(send, 400, "bad_request", "the Content-Length header must be a whole number")
            return
        if not int(declared or 0) and chunked is None:
            await self.app(scope, receive, send)  # no body: nothing to meter (most GETs)
            return
        body = _MeteredBody(receive, limit=limit, setting=setting, whole_json=is_json(content_type))
        if declared is not None and int(declared) > limit:
            await send_error(send, 413, "too_large", body.too_large())
            return
        await self._guarded(scope, body, send)

    async def _guarded(self, scope: Scope, body: _MeteredBody, send: Send) -> None:
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if body.refusal is not None:
                return  # the refusal below replaces whatever the route answers to the "disconnect"
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, body.receive, guarded_send)
        except Exception:
            if body.refusal is None:
                raise  # a failure of the route's own; a refused body's "disconnect" is expected to end it
        if body.refusal is not None and not started:
            await send_error(send, *body.refusal)
