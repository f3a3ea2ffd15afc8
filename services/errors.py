"""The service's errors, on the root the sandbox defines (the whole tree is drawn in :mod:`sandbox.errors`).

    LabloopError ─┬─ NotFound                     no such task / job / experiment / checkpoint  (HTTP 404)
                  ├─ Conflict                     the request contradicts the current state     (HTTP 409)
                  ├─ Unauthorized                 missing or wrong bearer token                 (HTTP 401)
                  ├─ ServerUnreachable            no labloop server answers at LABLOOP_API_URL
                  └─ MemoryStoreError             the findings memory (Chroma) failed
                     └─ EmbedderMismatch          a collection was made with another embedder

Errors of the layers below (``InvalidInput``, ``ConfigError``, ``LLMError`` ...) are imported
from :mod:`agents.errors`. They become HTTP or CLI errors only at the edge
(:mod:`services.api.errors`, :mod:`services.cli`).
"""

from __future__ import annotations

from agents.errors import LabloopError


class NotFound(LabloopError):
    """The named thing does not exist."""

    code = "not_found"


class Conflict(LabloopError):
    """The request contradicts the current state (e.g. deciding a checkpoint twice)."""

    code = "conflict"


class Unauthorized(LabloopError):
    """Missing or wrong credentials."""

    code = "unauthorized"


class ServerUnreachable(LabloopError):
    """No labloop server answers at LABLOOP_API_URL (CLI commands that are its clients)."""

    code = "server_unreachable"


class MemoryStoreError(LabloopError):
    """The findings memory failed."""

    code = "memory_error"


class EmbedderMismatch(MemoryStoreError):
    """A collection was made with a different embedder than the one configured."""

    code = "embedder_mismatch"
