"""``/v1/tasks``: upload a task folder (JSON files or a tar.gz), list tasks, read one."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import ValidationError

from agents.task import TASK_NAME
from services.api.deps import RuntimeDep, StoreDep
from services.api.errors import BadRequest, TooLarge
from services.api.schemas import TaskOut, TaskUpload
from services.store.db import Store
from services.store.models import TaskRow
from services.store.tasks import get_task, list_tasks, task_versions
from services.tasks import read_tarball, save_task, task_file_list

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
TaskName = Annotated[str, Path(pattern=TASK_NAME)]
TARBALL_TYPES = ("application/gzip", "application/x-gzip", "application/x-tar+gzip", "application/octet-stream")

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TaskUpload.model_json_schema()},
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, read in chunks and refused as soon as it passes ``limit`` bytes (the edge's BodyGuard
    refuses it first; this keeps the route safe on its own)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the upload is larger than {limit} bytes (LABLOOP_UPLOAD_MAX_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


def task_out(store: Store, row: TaskRow) -> TaskOut:
    """A task version with its file list and the versions that exist."""
    out = TaskOut.model_validate(row)
    out.files = task_file_list(row)
    out.versions = task_versions(store, row.name)
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TaskOut, openapi_extra=_UPLOAD_BODY)
async def upload_task(request: Request, runtime: RuntimeDep) -> TaskOut:
    """Upload a task folder; a re-upload of the same name makes a new version."""
    settings = runtime.settings
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await _read_capped(request, settings.upload_max_bytes)
    files: dict[str, str | bytes]
    if kind in TARBALL_TYPES:
        files = dict(await asyncio.to_thread(read_tarball, body, max_bytes=settings.upload_max_bytes))
    elif kind == "application/json":
        try:
            files = dict(TaskUpload.model_validate(json.loads(body)).files)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise BadRequest("the body is not valid JSON; send {\"files\": {\"task.yaml\": \"...\"}}") from exc
        except ValidationError as exc:
            raise BadRequest(f"the body must be {{\"files\": {{PATH: TEXT}}}}: {exc.errors()[0]['msg']}") from exc
    else:
        raise BadRequest("send application/json ({\"files\": {...}}) or application/gzip (a tar.gz)")
    row = await asyncio.to_thread(
        save_task, runtime.store, tasks_dir=settings.task_store_dir, files=files,
        max_bytes=settings.upload_max_bytes,
    )
    return await asyncio.to_thread(task_out, runtime.store, row)


@router.get("", response_model=list[TaskOut])
def get_tasks(store: StoreDep) -> list[TaskOut]:
    """The newest version of every task."""
    return [task_out(store, row) for row in list_tasks(store)]


@router.get("/{name}", response_model=TaskOut)
def read_task(
    name: TaskName, store: StoreDep, version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None
) -> TaskOut:
    """The newest (or ``version``) version of one task."""
    return task_out(store, get_task(store, name, version=version))
