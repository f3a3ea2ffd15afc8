"""Throw-away app databases: a SQLite file, or a fresh database on the local PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create an empty database on the local server, yield its URL, drop it afterwards."""
    name = "labloop_test_" + uuid.uuid4().hex[:10]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh app-database URL for ``backend`` ('sqlite' or 'postgres')."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'labloop.db'}"
    else:
        with postgres_database() as url:
            yield url
