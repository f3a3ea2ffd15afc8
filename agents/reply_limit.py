"""A cap on the size of a model endpoint's reply, enforced while it arrives, before any JSON is parsed.

A reply holds at most the request's ``max_tokens`` tokens, so its body has no reason to be
much larger than that many tokens' worth of JSON-escaped text. An endpoint (or whatever sits
at its address) may send more: 50 MB parsed, kept in the graph's state and checkpointed whole
took over a gigabyte. :class:`ReplyLimitedClient` is the HTTP client the ``openai`` package is
given: it reads each body incrementally and stops past
``max_tokens × BYTES_PER_TOKEN + ALLOWANCE_BYTES`` bytes (a declared ``Content-Length`` past
the cap stops it before a byte is read), raising :class:`~agents.errors.LLMReplyTooLarge`, which
:func:`~agents.llm.ask_json` turns into a failed attempt the model is told of.
It asks for an uncompressed body, so the bytes counted are the bytes parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai

from agents.errors import LLMReplyTooLarge

BYTES_PER_TOKEN = 16
"""A token is about four characters; JSON escaping (``\\n``, ``\\uXXXX``) can make one up to ~12 bytes."""
ALLOWANCE_BYTES = 64 * 1024
"""The rest of the response object (ids, usage, finish reason), with room to spare."""


def reply_cap(request: httpx2.Request, default_max_tokens: int) -> int:
    """The most bytes the reply to ``request`` may have, from the ``max_tokens`` its body asks for."""
    max_tokens = default_max_tokens
    try:
        body = json.loads(request.content or b"{}")
    except (ValueError, httpx2.RequestNotRead):
        body = {}
    if isinstance(body, dict):
        for key in ("max_tokens", "max_completion_tokens"):
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                max_tokens = value
                break
    return max_tokens * BYTES_PER_TOKEN + ALLOWANCE_BYTES


class _CappedStream(httpx2.SyncByteStream):
    """The body of a response, read through; LLMReplyTooLarge once more than ``cap`` bytes came."""

    def __init__(self, inner: httpx2.SyncByteStream, cap: int) -> None:
        self._inner, self._cap = inner, cap
        self._seen = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._seen += len(chunk)
            if self._seen > self._cap:
                raise LLMReplyTooLarge(_message(self._cap))
            yield chunk

    def close(self) -> None:
        self._inner.close()


class ReplyLimitedClient(openai.DefaultHttpxClient):
    """The ``openai`` package's default HTTP client, with every response body capped by its request's max_tokens."""

    def __init__(self, *, default_max_tokens: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_max_tokens = default_max_tokens

    def send(self, request: httpx2.Request, *, stream: bool = False, **kwargs: Any) -> httpx2.Response:
        """Send ``request``; read the body (unless ``stream``) only up to the reply cap."""
        cap = reply_cap(request, self.default_max_tokens)
        request.headers["Accept-Encoding"] = "identity"  # a compressed body could expand past any cap
        response = super().send(request, stream=True, **kwargs)
        try:
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise LLMReplyTooLarge(
                    f"the model endpoint sent a {encoding}-compressed reply although labloop asked for an "
                    "uncompressed one, so its size cannot be bounded; serve it uncompressed")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise LLMReplyTooLarge(_message(cap, declared=int(declared)))
            if isinstance(response.stream, httpx2.SyncByteStream):
                response.stream = _CappedStream(response.stream, cap)
            if not stream:
                response.read()
        except BaseException:
            response.close()
            raise
        return response


def _message(cap: int, *, declared: int | None = None) -> str:
    size = f" ({declared} bytes declared)" if declared is not None else ""
    return (f"the model's reply exceeded {cap} bytes{size}, more than its max_tokens allow; it was "
            "dropped before parsing")
