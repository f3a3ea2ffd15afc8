"""The server's edge: pure ASGI middlewares that judge a request before any route reads its body.

Outermost first, as ``services.api.app`` installs them:

    HostGuard       the Host header names this server (loopback names, plus LABLOOP_ALLOWED_HOSTS
                    when tokens are set) or 400: a web page on a rebinding domain reaches a
                    loopback server, but with its own name in Host
    TokenGuard      a valid bearer token on /v1 and /metrics or 401, before a byte of the body is read
    EventStreamCap  at most LABLOOP_MAX_EVENT_STREAMS open event streams per token (per client
                    address on a token-less server) or 429 (services.api.streams)
    BodyGuard       the body within its cap, declared or streamed, or 413; JSON nested at most
                    MAX_JSON_DEPTH deep or 422 (services.api.bodies)

They are plain ASGI callables, not ``BaseHTTPMiddleware``: nothing here buffers a response, and
nothing reads a body it is about to refuse. Each refusal carries the API's error shape.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.errors import send_error
from services.errors import Unauthorized

log = logging.getLogger("labloop.api")

CALLER = "labloop.caller"
"""The scope key under which TokenGuard leaves the caller's name for the routes."""
LOCAL_USER = "local"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
UNTRUSTED_FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}
"""Headers of every response that carries a file an experiment or a model wrote: a browser must
neither guess an HTML type for it nor run anything in it, even when it is opened on its own."""


def header_values(scope: Scope, *names: bytes) -> list[str | None]:
    """The first value of each header in ``names`` (lower-case bytes), in one pass over the raw
    headers: cheaper than building a ``Headers`` per middleware on every request."""
    found: list[str | None] = [None] * len(names)
    for key, value in scope["headers"]:
        if key in names:
            index = names.index(key)
            if found[index] is None:
                found[index] = value.decode("latin-1")
    return found


def host_name(header: str) -> str | None:
    """The name in a Host header, lower-case and without its port; None when it is malformed."""
    value = header.strip().lower()
    if value.startswith("["):  # an IPv6 literal: its colons are not a port
        end = value.find("]")
        name, rest = (value[: end + 1], value[end + 1 :]) if end > 0 else ("", "")
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if not name or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
        return None
    return name


class HostGuard:
    """Refuse (400) a request whose Host header is not one of this server's names.

    Loopback names are always accepted. ``allowed`` (LABLOOP_ALLOWED_HOSTS) adds names, ``*.DOMAIN``
    its subdomains and ``*`` any name, but only when ``tokens_set``: a token-less server trusts
    every local caller, so it must answer only requests addressed to loopback by name.
    """

    def __init__(self, app: ASGIApp, *, allowed: tuple[str, ...], tokens_set: bool) -> None:
        self.app = app
        extra = allowed if tokens_set else ()
        self.any_host = "*" in extra
        self.names = LOOPBACK_HOSTS | {n for n in extra if not n.startswith("*")}
        self.suffixes = tuple(n[1:] for n in extra if n.startswith("*."))  # ".example.org"

    def accepts(self, name: str) -> bool:
        """True when ``name`` (from :func:`host_name`) is one of the server's names."""
        return self.any_host or name in self.names or name.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = header_values(scope, b"host")[0] or ""
        name = host_name(header)
        if name is not None and self.accepts(name):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        log.info("refused a request for host %r", header[:100])
        await send_error(send, 400, "host_not_allowed",
                     f"this server does not answer to the host {header[:100]!r}; address it as localhost or "
                     "127.0.0.1, or (on a server with tokens) add the name to LABLOOP_ALLOWED_HOSTS")


def is_protected(path: str) -> bool:
    """True for the paths that need a token: the API under /v1 and /metrics."""
    return path.startswith("/v1/") or path in ("/v1", "/metrics")


def authenticate(tokens: Mapping[str, str], authorization: str | None) -> str:
    """The name of the caller's token; Unauthorized without a valid one.

    Tokens are compared in constant time, and every configured token is compared, so the time
    taken says nothing about which token nearly matched. With no token configured (only allowed
    on loopback) every local caller is 'local'.
    """
    if not tokens:
        return LOCAL_USER
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("this route needs a bearer token: send 'Authorization: Bearer TOKEN'")
    presented = given.strip().encode()
    user = None
    for token, name in tokens.items():
        if hmac.compare_digest(presented, token.encode()):
            user = name
    if user is None:
        raise Unauthorized("the bearer token is not valid; check LABLOOP_API_TOKEN")
    return user


class TokenGuard:
    """Refuse (401) a protected request without a valid token before its body is read.

    FastAPI reads and parses a route's body before it runs the route's dependencies, so a check
    in a dependency alone would let a stranger make the server read any body. The caller's name
    is left in ``scope[CALLER]`` for ``deps.current_user`` and the stream cap.
    """

    def __init__(self, app: ASGIApp, *, tokens: Mapping[str, str]) -> None:
        self.app = app
        self.tokens = dict(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_protected(scope["path"]):
            try:
                scope[CALLER] = authenticate(self.tokens, header_values(scope, b"authorization")[0])
            except Unauthorized as exc:
                await send_error(send, 401, exc.code, str(exc), {"WWW-Authenticate": "Bearer"})
                return
        await self.app(scope, receive, send)
