"""Uploaded task versions: the row points at the folder the files were written to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from services.errors import NotFound
from services.store.db import Store
from services.store.models import TaskRow, utcnow


def next_task_version(store: Store, name: str) -> int:
    """The version number the next upload of ``name`` gets (1 for a new task)."""
    with store.session() as session:
        latest = session.scalar(select(func.max(TaskRow.version)).where(TaskRow.name == name))
    return (latest or 0) + 1


def add_task_version(
    store: Store, *, name: str, version: int, path: str, spec: dict[str, Any]
) -> TaskRow:
    """Record version ``version`` of task ``name``; IntegrityError when it was taken meanwhile."""
    row = TaskRow(name=name, version=version, path=path, spec=spec, created_at=utcnow())
    with store.session() as session:
        session.add(row)
    return row


def get_task(store: Store, name: str, *, version: int | None = None) -> TaskRow:
    """The newest (or the given) version of task ``name``; NotFound when there is none."""
    query = select(TaskRow).where(TaskRow.name == name)
    if version is not None:
        query = query.where(TaskRow.version == version)
    with store.session() as session:
        row = session.scalars(query.order_by(TaskRow.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(f"no task {name!r}; upload it with POST /v1/tasks first")
    return row


def list_tasks(store: Store, *, limit: int = 100) -> list[TaskRow]:
    """The newest version of every task, by name."""
    newest = (
        select(TaskRow.name, func.max(TaskRow.version).label("version"))
        .group_by(TaskRow.name)
        .subquery()
    )
    query = (
        select(TaskRow)
        .join(newest, (TaskRow.name == newest.c.name) & (TaskRow.version == newest.c.version))
        .order_by(TaskRow.name)
        .limit(limit)
    )
    with store.session() as session:
        return list(session.scalars(query))


def task_versions(store: Store, name: str) -> list[int]:
    """Every version number of task ``name``, oldest first."""
    with store.session() as session:
        return list(
            session.scalars(select(TaskRow.version).where(TaskRow.name == name).order_by(TaskRow.version))
        )
