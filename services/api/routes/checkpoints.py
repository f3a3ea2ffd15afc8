"""``/v1/checkpoints``: list, read, and decide human checkpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.api.deps import RuntimeDep, StoreDep, UserDep
from services.api.schemas import CheckpointOut, DecisionCreate, DecisionOut, checkpoint_view
from services.statuses import CheckpointStatus
from services.store import get_checkpoint, get_decision, list_checkpoints
from services.store.db import Store
from services.store.models import CheckpointRow

router = APIRouter(prefix="/v1/checkpoints", tags=["checkpoints"])
CheckpointId = Annotated[str, Path(min_length=1, max_length=120)]


def checkpoint_out(store: Store, row: CheckpointRow) -> CheckpointOut:
    """A checkpoint with its decision, if one was made."""
    return checkpoint_view(row, get_decision(store, row.id) if row.status == "decided" else None)


@router.get("", response_model=list[CheckpointOut])
def get_checkpoints(
    store: StoreDep,
    status: Annotated[CheckpointStatus | None, Query()] = "pending",
    job_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CheckpointOut]:
    """Checkpoints, oldest first; pending ones unless ``status`` says otherwise."""
    rows = list_checkpoints(store, status=status, job_id=job_id, limit=limit)
    return [checkpoint_out(store, row) for row in rows]


@router.get("/{checkpoint_id}", response_model=CheckpointOut)
def read_checkpoint(checkpoint_id: CheckpointId, store: StoreDep) -> CheckpointOut:
    """One checkpoint: what is asked (idea, code diff or finding), why it was flagged, the decision."""
    return checkpoint_out(store, get_checkpoint(store, checkpoint_id))


@router.post("/{checkpoint_id}/decision", response_model=DecisionOut)
async def decide_checkpoint(
    checkpoint_id: CheckpointId, body: DecisionCreate, runtime: RuntimeDep, user: UserDep
) -> DecisionOut:
    """Approve, reject (with a reason) or edit; the job resumes at once. Deciding twice is a 409."""
    decision = await runtime.runs.decide(
        checkpoint_id, action=body.action, reason=body.reason, edit=body.edit, by=user
    )
    return DecisionOut.model_validate(decision)


