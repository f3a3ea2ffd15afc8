"""Domain errors become JSON ``{"error": {"code", "message"}}`` responses here, and only here.

    LabloopError ─┬─ InvalidInput (InvalidTask) → 422 (400 when the body is not even readable,
                  │                                    413 when it is too large)
                  ├─ NotFound                   → 404
                  ├─ Conflict                   → 409
                  ├─ Unauthorized               → 401 (with WWW-Authenticate: Bearer)
                  └─ anything else              → 503 (infrastructure: Docker, memory, database)
    RequestValidationError                      → 422 naming each bad field
    Starlette HTTPException (unknown route, 405) → its own status

The edge's middlewares (``services.api.edge``) answer before any of these run, with
:func:`send_error`: 400 for a Host the server does not answer to, 401, 413, 422 for JSON nested
too deep, 429 past the event-stream cap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from agents.errors import InvalidInput, LabloopError
from services.errors import Conflict, NotFound, Unauthorized

log = logging.getLogger("labloop.api")

STATUS: list[tuple[type[LabloopError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthorized, 401),
]


class BadRequest(InvalidInput):
    """The request itself could not be read (malformed body, wrong content type)."""

    code = "bad_request"


class TooLarge(InvalidInput):
    """The request body is larger than its cap."""

    code = "too_large"


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one error shape of the API."""
    return {"error": {"code": code, "message": message}}


async def send_error(
    send: Send, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> None:
    """Answer an ASGI request with the error shape, where no FastAPI handler runs (the edge's middlewares)."""
    body = json.dumps(error_body(code, message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _status_of(exc: LabloopError) -> int:
    if isinstance(exc, BadRequest):
        return 400
    if isinstance(exc, TooLarge):
        return 413
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 503


async def _labloop_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LabloopError)
    status = _status_of(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        log.warning("service unavailable: %s", exc)
    return JSONResponse(error_body(exc.code, str(exc)), status_code=status, headers=headers)


def _describe(errors: Any) -> str:
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return JSONResponse(error_body("bad_request", "the body is not valid JSON"), status_code=400)
    return JSONResponse(error_body("invalid_request", _describe(errors)), status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 400: "bad_request", 413: "too_large"}
    return JSONResponse(
        error_body(codes.get(exc.status_code, "http_error"), str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal", "an unexpected error happened; see the server log"), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Register every translation on ``app``."""
    app.add_exception_handler(LabloopError, _labloop_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
