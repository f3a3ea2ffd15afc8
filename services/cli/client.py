"""The CLI's client of a running server (LABLOOP_API_URL): its JSON errors become labloop errors.

The CLI authenticates with ``LABLOOP_API_TOKEN`` (or ``--token``), the same variable a server
reads for its single token; a 401 says which variable to set.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import typer

from agents.errors import InvalidInput, LabloopError
from services.errors import Conflict, NotFound, ServerUnreachable, Unauthorized
from services.settings import get_settings

_ERRORS: dict[int, type[LabloopError]] = {401: Unauthorized, 404: NotFound, 409: Conflict}

Token = Annotated[str | None, typer.Option(
    "--token", metavar="TOKEN", show_default=False,
    help="Bearer token for the server at LABLOOP_API_URL (default: LABLOOP_API_TOKEN).")]


def _unauthorized(url: str, sent: bool, message: str) -> Unauthorized:
    if sent:
        return Unauthorized(
            f"the server at {url} refused the token ({message}): set LABLOOP_API_TOKEN (or pass --token) "
            "to one of the server's tokens, its LABLOOP_API_TOKEN or a value of its LABLOOP_API_TOKENS")
    return Unauthorized(
        f"the server at {url} needs a token ({message}): set LABLOOP_API_TOKEN (or pass --token) to its "
        "LABLOOP_API_TOKEN or to a value of its LABLOOP_API_TOKENS")


def api_call(method: str, path: str, *, body: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, token: str | None = None) -> Any:
    """Call the running server at LABLOOP_API_URL with ``token`` (else LABLOOP_API_TOKEN).

    Its JSON errors become labloop errors; no answer at all is ServerUnreachable.
    """
    settings = get_settings()
    if token is None and settings.api_token is not None:
        token = settings.api_token.get_secret_value()
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
        if reply.status_code == 401:
            raise _unauthorized(settings.api_url, bool(token), message)
        raise _ERRORS.get(reply.status_code, InvalidInput)(message)
    return reply.json()
