"""The LangGraph checkpointer: SQLite under ``LABLOOP_HOME``, or Postgres in the scale-out profile.

Postgres is used when the app database is Postgres (``LABLOOP_DATABASE_URL``), in the same
database under its own schema (``langgraph``); otherwise ``LABLOOP_HOME/checkpoints.sqlite``. Every step's checkpoint is committed
before the next step starts (the graph runs with ``durability="sync"``); SQLite runs in WAL
mode, which keeps a commit durable across a killed process.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from agents.errors import ConfigError
from services.settings import Settings

CHECKPOINT_FILE = "checkpoints.sqlite"
SCHEMA = "langgraph"
SETUP_LOCK_KEY = 7243003
_DRIVER = re.compile(r"^(postgres(?:ql)?)\+\w+://")


def checkpoint_path(settings: Settings) -> Path:
    """Where the embedded profile keeps graph checkpoints."""
    return (settings.home / CHECKPOINT_FILE).resolve()


def postgres_url(settings: Settings) -> str | None:
    """The libpq URL of the Postgres app database, or None when the app database is not Postgres."""
    url = settings.database_url or ""
    if not url.startswith(("postgres://", "postgresql://", "postgresql+", "postgres+")):
        return None
    return _DRIVER.sub(r"\1://", url)  # SQLAlchemy's "+psycopg" driver suffix means nothing to libpq


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver[Any]]:
    """A ready checkpointer (tables created) that closes its connection on exit."""
    url = postgres_url(settings)
    if url is not None:
        with _postgres(url) as saver:
            yield saver
        return
    path = checkpoint_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


@contextmanager
def _postgres(url: str) -> Iterator[BaseCheckpointSaver[Any]]:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    try:
        # Its own schema: the app database already has a "checkpoints" table (the human ones).
        with psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row,
                             options=f"-c search_path={SCHEMA}") as conn:
            saver = PostgresSaver(conn)
            # Workers and API processes open checkpointers at once: setup() is not safe to race
            # (two CREATE TYPE on a fresh database), so one process at a time runs it. The lock is
            # polled, not awaited: setup's CREATE INDEX CONCURRENTLY waits for every open
            # transaction, a blocked pg_advisory_lock call included (a deadlock).
            while not _try_lock(conn):
                time.sleep(0.05)
            try:
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                saver.setup()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
            yield saver
    except psycopg.OperationalError as exc:
        raise ConfigError(f"cannot reach the checkpoint database: {exc}; check LABLOOP_DATABASE_URL") from exc


def prune(saver: BaseCheckpointSaver[Any], thread_id: str) -> None:
    """Delete the checkpoints of ``thread_id`` that resuming it no longer needs.

    LangGraph keeps every step's checkpoint, and SQLite's saver stores each one whole, so a job's
    checkpoints grew with the square of its rounds (150 rounds of a small search job: 144 MB).
    A resume needs only the latest checkpoint of the job's own namespace, its pending writes,
    and the branches started after it (a round in flight, or waiting at a gate): everything
    older goes. Checkpoint ids are time-ordered (uuid6), across namespaces too. Postgres uses
    the saver's own ``prune(keep_latest)``, which keeps the same.
    """
    if not isinstance(saver, SqliteSaver):
        saver.prune([thread_id], strategy="keep_latest")
        return
    with saver.lock, saver.conn as conn:  # the saver's own lock; the connection commits on exit
        latest = conn.execute("SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ''",
                              (thread_id,)).fetchone()[0]
        if latest is not None:
            conn.execute("DELETE FROM writes WHERE thread_id = ? AND checkpoint_id < ?", (thread_id, latest))
            conn.execute("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id < ?", (thread_id, latest))


def _try_lock(conn: Any) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS locked", (SETUP_LOCK_KEY,)).fetchone()
    return bool(row and row["locked"])
