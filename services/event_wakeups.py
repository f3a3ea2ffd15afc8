"""Event wake-ups across processes on Postgres: LISTEN on the channel the events trigger notifies.

A worker on another machine appends a job's events to the events table; migration 0002 makes
each insert send ``NOTIFY labloop_events, '<job id>'``. The API listens on one connection, in a
daemon thread, and wakes that job's SSE streams at once; the streams' own poll stays as the
fallback while the connection is being re-made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

log = logging.getLogger("labloop.events")
CHANNEL = "labloop_events"
RECONNECT_S = 2.0


@contextmanager
def listen_for_events(url: str, wake: Callable[[str], None]) -> Iterator[threading.Event]:
    """While the block runs, call ``wake(job_id)`` for every event row committed by any process.

    Yields an event that is set once the first LISTEN is in place (tests wait for it).
    """
    stop, listening = threading.Event(), threading.Event()
    thread = threading.Thread(target=_listen, args=(url, wake, stop, listening), name="labloop-listen",
                              daemon=True)
    thread.start()
    try:
        yield listening
    finally:
        stop.set()
        thread.join(timeout=5)


def _listen(url: str, wake: Callable[[str], None], stop: threading.Event, listening: threading.Event) -> None:
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                listening.set()
                while not stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        wake(note.payload)
        except psycopg.Error as exc:
            log.warning("event wake-ups from other processes paused (%s); retrying in %.0fs", exc, RECONNECT_S)
            stop.wait(RECONNECT_S)
