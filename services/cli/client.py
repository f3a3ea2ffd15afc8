"""The CLI's client of a running server (LABLOOP_API_URL): its JSON errors become labloop errors."""

from __future__ import annotations

from typing import Any

import httpx

from agents.errors import InvalidInput, LabloopError
from services.errors import Conflict, NotFound, ServerUnreachable, Unauthorized
from services.settings import get_settings

_ERRORS: dict[int, type[LabloopError]] = {401: Unauthorized, 404: NotFound, 409: Conflict}


def api_call(method: str, path: str, *, body: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None) -> Any:
    """Call the running server at LABLOOP_API_URL; its JSON errors become labloop errors."""
    settings = get_settings()
    token = settings.api_token.get_secret_value() if settings.api_token else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        reply = httpx.request(method, settings.api_url.rstrip("/") + path, json=body, params=params,
                              headers=headers, timeout=30)
    except httpx.ConnectError as exc:
        raise ServerUnreachable(
            f"no labloop server answers at {settings.api_url} ({exc}); start one with `labloop serve` "
            "or set LABLOOP_API_URL"
        ) from exc
    except httpx.HTTPError as exc:
        raise LabloopError(f"the labloop server at {settings.api_url} failed to answer: {exc}") from exc
    if reply.status_code >= 400:
        try:
            message = reply.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = reply.text[:300]
        raise _ERRORS.get(reply.status_code, InvalidInput)(message)
    return reply.json()
