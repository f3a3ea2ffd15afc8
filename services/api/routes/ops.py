"""Operations: ``/healthz`` (the process answers), ``/readyz`` (its dependencies do), ``/metrics``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from services.api.deps import RuntimeDep, current_user
from services.api.runtime import Runtime
from services.metrics import CONTENT_TYPE
from services.store.stats import ping

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no token needed)."""
    return {"status": "ok"}


def _check(name: str, runtime: Runtime) -> str | None:
    """None when ``name`` answers, else why not."""
    try:
        if name == "database":
            ping(runtime.store)
        elif name == "docker":
            if runtime.sandbox is None and runtime.settings.executor == "queue":
                return None  # jobs run on queue workers, each with its own engine
            if runtime.sandbox is None:
                return "not connected at start-up; start Docker and restart the server"
            runtime.sandbox.ping()
        elif name == "memory":
            if runtime.memory is None:
                return "not opened at start-up; check LABLOOP_CHROMA_URL and restart the server"
            runtime.memory.records("findings", limit=1)
    except Exception as exc:  # noqa: BLE001 - any failure means 'not ready', with its reason
        return f"{type(exc).__name__}: {exc}"
    return None


@router.get("/readyz", responses={503: {"description": "A dependency does not answer."}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Database, Docker and memory answer (no token needed); 503 naming the ones that do not."""
    names = ("database", "docker", "memory")
    problems = await asyncio.gather(*(asyncio.to_thread(_check, n, runtime) for n in names))
    checks = {n: ("ok" if p is None else p) for n, p in zip(names, problems, strict=True)}
    ready = all(p is None for p in problems)
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", dependencies=[Depends(current_user)], response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics (needs a token, like every route but the health checks)."""
    body = await asyncio.to_thread(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
