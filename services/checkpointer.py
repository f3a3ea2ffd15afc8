"""The LangGraph checkpointer: SQLite under ``LABLOOP_HOME`` (a Postgres variant comes with scale-out).

Every step's checkpoint is committed before the next step starts (the graph runs with
``durability="sync"``); WAL mode keeps a commit durable across a killed process.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from services.settings import Settings

CHECKPOINT_FILE = "checkpoints.sqlite"


def checkpoint_path(settings: Settings) -> Path:
    """Where the embedded profile keeps graph checkpoints."""
    return (settings.home / CHECKPOINT_FILE).resolve()


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[SqliteSaver]:
    """A ready SqliteSaver (tables created) that closes its connection on exit."""
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
