"""The API's dependencies as ``Annotated`` aliases: the runtime's parts and the caller's name.

They are ``async`` although nothing in them awaits: FastAPI runs a plain ``def`` dependency in
its thread pool, a hop per dependency per request that costs more than the work itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.edge import CALLER
from services.api.runtime import Runtime
from services.errors import Unauthorized
from services.runs import RunManager
from services.store.db import Store

_bearer = HTTPBearer(auto_error=False, description="A token from LABLOOP_API_TOKEN or LABLOOP_API_TOKENS.")


async def get_runtime(request: Request) -> Runtime:
    """The runtime the lifespan built."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_store(runtime: RuntimeDep) -> Store:
    """The app database."""
    return runtime.store


async def get_runs(runtime: RuntimeDep) -> RunManager:
    """The run manager."""
    return runtime.runs


async def current_user(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The name of the caller's token, as the edge's TokenGuard found it before the body was read.

    ``_credentials`` only puts the bearer scheme into the OpenAPI schema. A request that reached
    a route without passing the guard is refused: the check fails closed.
    """
    caller = request.scope.get(CALLER)
    if not isinstance(caller, str):
        raise Unauthorized("this route needs a bearer token: send 'Authorization: Bearer TOKEN'")
    return caller


StoreDep = Annotated[Store, Depends(get_store)]
RunsDep = Annotated[RunManager, Depends(get_runs)]
UserDep = Annotated[str, Depends(current_user)]
