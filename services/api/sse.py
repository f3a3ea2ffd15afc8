"""Server-sent events of a job: replayed from the events table, woken live by the journal.

Every event's id is its row id in the events table, so a client that reconnects with
``Last-Event-ID: N`` gets exactly the events after N: none missed, none twice. Streams are woken
when this process's store commits an event row (``append_event`` tells the store's event
listeners); a slow poll also catches events written by other processes (scale-out workers).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

from sse_starlette import ServerSentEvent

from services.statuses import FINISHED
from services.store import events_after, get_job
from services.store.db import Store

FINISH_GRACE_S = 1.0  # the job's status may be stored a moment before its final event


class EventHub:
    """Wakes the SSE streams of a job when the journal stores one of its events."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver wake-ups on ``loop`` (the server's)."""
        self._loop = loop

    def notify(self, job_id: str) -> None:
        """Wake the streams of ``job_id``; safe to call from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake, job_id)

    def _wake(self, job_id: str) -> None:
        for waiter in self._waiters.get(job_id, ()):
            waiter.set()

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever ``job_id`` gets a new event, for as long as the block runs."""
        waiter = asyncio.Event()
        self._waiters[job_id].add(waiter)
        try:
            yield waiter
        finally:
            self._waiters[job_id].discard(waiter)
            if not self._waiters[job_id]:
                self._waiters.pop(job_id, None)


@contextmanager
def watch_events(store: Store, hub: EventHub) -> Iterator[None]:
    """While the block runs, every event row ``store`` commits wakes its job's streams."""
    store.event_listeners.append(hub.notify)
    try:
        yield
    finally:
        store.event_listeners.remove(hub.notify)


async def job_events(
    store: Store, hub: EventHub, job_id: str, *, after: int, poll_s: float = 2.0
) -> AsyncIterator[ServerSentEvent]:
    """The job's events after id ``after``, then live ones, until the job has finished."""
    loop = asyncio.get_running_loop()
    ended_at: float | None = None  # when the job was first seen finished
    async with hub.subscribe(job_id) as woken:
        while True:
            woken.clear()
            rows = await asyncio.to_thread(events_after, store, job_id, after)
            for row in rows:
                after = row.id
                body = {"id": row.id, "job_id": row.job_id, "kind": row.kind, "data": row.data,
                        "at": row.at.isoformat()}
                yield ServerSentEvent(data=json.dumps(body), event=row.kind, id=str(row.id))
                if row.kind == "job.finished":
                    return
            if rows:
                continue
            if ended_at is None and (await asyncio.to_thread(get_job, store, job_id)).status in FINISHED:
                ended_at = loop.time()
            if ended_at is not None and loop.time() - ended_at > FINISH_GRACE_S:
                return  # finished without a final event (e.g. before this server knew it)
            with suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout=FINISH_GRACE_S if ended_at else poll_s)
