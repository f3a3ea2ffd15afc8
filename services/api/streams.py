"""A cap on the event streams (``GET /v1/jobs/{id}/events``) one caller holds open at once.

Each open stream costs this process a task, a connection and a poll of the events table; without
a cap one token could open thousands and slow every other route. The count is per token (per
client address on a token-less server, where every caller is 'local') and per API process; a
stream's place is freed the moment its response ends, the client's disconnect included.
"""

from __future__ import annotations

import re
from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.edge import CALLER
from services.api.errors import send_error

EVENTS_PATH = re.compile(r"^/v1/jobs/[^/]+/events/?$")
RETRY_AFTER_S = 5


class EventStreamCap:
    """Refuse (429) an event stream past ``limit`` open ones of the same caller."""

    def __init__(self, app: ASGIApp, *, limit: int, per_address: bool) -> None:
        self.app = app
        self.limit = limit
        self.per_address = per_address
        self.open: Counter[str] = Counter()  # one event loop per process: no lock needed

    def caller(self, scope: Scope) -> str:
        """Whose streams this request counts against: the token's user, or the client's address."""
        client = scope.get("client")
        if self.per_address or CALLER not in scope:
            return f"address:{client[0] if client else 'unknown'}"
        return f"user:{scope[CALLER]}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not EVENTS_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        caller = self.caller(scope)
        if self.open[caller] >= self.limit:
            await send_error(
                send, 429, "too_many_streams",
                f"{self.limit} event streams are already open for this caller (LABLOOP_MAX_EVENT_STREAMS); "
                "close one, or follow several jobs from one page",
                {"Retry-After": str(RETRY_AFTER_S)},
            )
            return
        self.open[caller] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[caller] -= 1
            if self.open[caller] <= 0:
                del self.open[caller]
