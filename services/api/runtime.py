"""Everything one API process runs on, opened in order and closed in reverse by the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agents.errors import LabloopError
from agents.protocols import Memory
from services.api.sse import EventHub, watch_events
from services.metrics import ServiceMetrics
from services.runs import RunManager
from services.schedules import Scheduler
from services.settings import Settings
from services.store import SqlJournal, Store, open_store

log = logging.getLogger("labloop.api")


@dataclass
class Runtime:
    """The parts the routes reach through ``deps``."""

    settings: Settings
    store: Store
    hub: EventHub
    journal: SqlJournal
    metrics: ServiceMetrics
    runs: RunManager
    scheduler: Scheduler
    tokens: Mapping[str, str]
    memory: Memory | None = None
    sandbox: Any | None = None


def _open_memory(settings: Settings) -> Memory | None:
    from services.memory import open_memory

    try:
        return open_memory(settings)
    except LabloopError as exc:
        log.warning("memory unavailable, findings and feedback are not kept: %s", exc)
        return None


def _open_sandbox(settings: Settings) -> Any | None:
    from sandbox.engine import connect
    from sandbox.runner import DockerSandbox

    try:
        return DockerSandbox(
            connect(), image=settings.sandbox_image, work_dir=settings.home / "sandbox",
            pool_size=settings.sandbox_pool_size, expiry_s=settings.sandbox_expiry_s,
        )
    except LabloopError as exc:
        log.warning("sandbox unavailable, jobs will fail until it is: %s", exc)
        return None


async def _run_manager(settings: Settings, stack: AsyncExitStack, hub: EventHub, **parts: Any) -> RunManager:
    """The embedded run manager, or (LABLOOP_EXECUTOR=queue) one that hands jobs to queue workers."""
    from services.checkpointer import postgres_url
    from services.event_wakeups import listen_for_events

    url = postgres_url(settings)
    if url is not None:  # events written by other processes wake this one's SSE streams
        stack.enter_context(listen_for_events(url, hub.notify))
    if settings.executor != "queue":
        return RunManager(**parts)
    from services.queue import QueueRunManager, ensure_schema, queue_app

    await ensure_schema(settings)
    queue = await stack.enter_async_context(queue_app(settings).open_async())
    return QueueRunManager(queue=queue, **parts)


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Open the store, memory, sandbox, run manager and scheduler; recover unfinished work."""
    from services.run_driver import open_driver

    async with AsyncExitStack() as stack:
        store = await asyncio.to_thread(open_store, settings.db_url)
        stack.callback(store.close)
        hub = EventHub()
        hub.bind(asyncio.get_running_loop())
        metrics = ServiceMetrics(store)
        journal = SqlJournal(store, listeners=[metrics.observe_event])
        stack.enter_context(watch_events(store, hub))
        memory = await asyncio.to_thread(_open_memory, settings)
        if callable(getattr(memory, "close", None)):
            stack.callback(memory.close)  # type: ignore[union-attr]
        # With the queue executor, jobs run on workers: this process needs no Docker engine.
        sandbox = None if settings.executor == "queue" else await asyncio.to_thread(_open_sandbox, settings)
        if sandbox is not None:
            stack.callback(sandbox.close)
        driver = stack.enter_context(open_driver(settings, store=store, journal=journal, runner=sandbox, memory=memory))
        runs = await _run_manager(
            settings, stack, hub,
            store=store, driver=driver, emit=journal.emit, limit=settings.max_concurrent_jobs,
            stop_container=sandbox.cancel if sandbox is not None else None,
            on_decided=metrics.checkpoint_wait.observe,
            on_resumed=metrics.decision_to_resume.observe,
        )
        stack.push_async_callback(runs.close)
        scheduler = Scheduler(
            store=store, submit=runs.submit, grace_s=settings.schedule_grace_s, tick_s=settings.schedule_tick_s
        )
        stack.push_async_callback(scheduler.close)
        runtime = Runtime(
            settings=settings, store=store, hub=hub, journal=journal, metrics=metrics, runs=runs,
            scheduler=scheduler, tokens=settings.tokens(), memory=memory, sandbox=sandbox,
        )
        if not runtime.tokens:
            log.warning("no LABLOOP_API_TOKEN set: every local caller is accepted as 'local'")
        await runs.recover()
        scheduler.start()
        yield runtime
