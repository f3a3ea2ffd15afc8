"""The FastAPI app: ``create_app(settings)`` wires the edge, routes, auth and errors; the lifespan the rest."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.middleware import Middleware

from services.api.bodies import BodyGuard
from services.api.deps import current_user
from services.api.edge import HostGuard, TokenGuard
from services.api.errors import install_error_handlers
from services.api.routes import (
    checkpoints,
    experiments,
    findings,
    jobs,
    ops,
    review,
    schedules,
    tasks,
)
from services.api.runtime import open_runtime
from services.api.schemas import ErrorOut
from services.api.streams import EventStreamCap
from services.settings import Settings, get_settings

log = logging.getLogger("labloop.api")
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 404, 409, 413, 422)}


def edge_middleware(settings: Settings) -> list[Middleware]:
    """The edge's middlewares for ``settings``, outermost first (``services.api.edge`` says why each)."""
    tokens = settings.tokens()
    allowed = settings.allowed_host_names()
    if allowed and not tokens:
        log.warning("LABLOOP_ALLOWED_HOSTS is ignored without a token: a token-less server answers loopback "
                    "names only (set LABLOOP_API_TOKEN to serve other names)")
    return [
        Middleware(HostGuard, allowed=allowed, tokens_set=bool(tokens)),
        Middleware(TokenGuard, tokens=tokens),
        Middleware(EventStreamCap, limit=settings.max_event_streams, per_address=not tokens),
        Middleware(BodyGuard, max_bytes=settings.body_max_bytes, upload_max_bytes=settings.upload_max_bytes),
    ]


def create_app(settings: Settings) -> FastAPI:
    """The API for ``settings``; nothing is opened until the server starts (the lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="labloop",
        version="1",
        summary="An autonomous research-agent service: jobs, human checkpoints, schedules.",
        lifespan=lifespan,
        docs_url="/docs",
        responses=ERRORS,
        middleware=edge_middleware(settings),
    )
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(review.router)
    for module in (tasks, jobs, experiments, checkpoints, findings, schedules):
        app.include_router(module.router, dependencies=[Depends(current_user)])
    return app


def app_from_environment() -> FastAPI:
    """The app for the process's settings (``uvicorn --factory services.api.app:app_from_environment``)."""
    return create_app(get_settings())
