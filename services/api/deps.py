"""The API's dependencies as ``Annotated`` aliases: the runtime's parts and the caller's name.

They are ``async`` although nothing in them awaits: FastAPI runs a plain ``def`` dependency in
its thread pool, a hop per dependency per request that costs more than the work itself.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.runtime import Runtime
from services.errors import Unauthorized
from services.runs import RunManager
from services.store.db import Store

_bearer = HTTPBearer(auto_error=False, description="A token from LABLOOP_API_TOKEN or LABLOOP_API_TOKENS.")
LOCAL_USER = "local"


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
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The name of the caller's token; Unauthorized without a valid one.

    Tokens are compared in constant time, and every configured token is compared, so the
    time taken says nothing about which token nearly matched. With no token configured (only
    allowed on loopback) every local caller is 'local'.
    """
    if not runtime.tokens:
        return LOCAL_USER
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("this route needs a bearer token: send 'Authorization: Bearer TOKEN'")
    given = credentials.credentials.encode()
    user = None
    for token, name in runtime.tokens.items():
        if hmac.compare_digest(given, token.encode()):
            user = name
    if user is None:
        raise Unauthorized("the bearer token is not valid; check LABLOOP_API_TOKEN")
    return user


StoreDep = Annotated[Store, Depends(get_store)]
RunsDep = Annotated[RunManager, Depends(get_runs)]
UserDep = Annotated[str, Depends(current_user)]
