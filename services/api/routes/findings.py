"""``/v1/findings``: search the research memory (findings by default)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from services.api.deps import RuntimeDep
from services.api.schemas import FindingOut
from services.errors import MemoryStoreError

router = APIRouter(prefix="/v1/findings", tags=["findings"])
Kind = Literal["findings", "ideas", "feedback", "literature"]


@router.get("", response_model=list[FindingOut])
async def search_findings(
    runtime: RuntimeDep,
    query: Annotated[str, Query(max_length=2000)] = "",
    job_id: Annotated[str | None, Query(max_length=40)] = None,
    verified: bool | None = None,
    kind: Kind = "findings",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[FindingOut]:
    """Records closest to ``query`` (or all, unranked, without one), filtered by job and verification."""
    memory = runtime.memory
    if memory is None:
        raise MemoryStoreError("the findings memory is not available; see GET /readyz")
    where: dict[str, Any] = {}
    if job_id is not None:
        where["job_id"] = job_id
    if verified is not None:
        where["verified"] = verified
    if query.strip():
        found = await asyncio.to_thread(memory.search, query, kinds=(kind,), where=where or None, k=limit)
    else:
        found = await asyncio.to_thread(memory.records, kind, where=where or None, limit=limit)
    return [
        FindingOut(id=r.id, kind=r.kind, text=r.text, metadata=dict(r.metadata), distance=r.distance)
        for r in found
    ]
