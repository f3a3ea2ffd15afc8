"""Everything one API process runs on, opened in order and closed in reverse by the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agents.protocols import Memory, Sandbox
from services.api.sse import EventHub, watch_events
from services.collaborators import SandboxNeed, open_collaborators
from services.driver import ResearchDriver
from services.lifecycle import Lifecycle
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
    lifecycle: Lifecycle
    runs: RunManager
    scheduler: Scheduler
    tokens: Mapping[str, str]
    memory: Memory | None = None
    sandbox: Sandbox | None = None


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
    async with AsyncExitStack() as stack:
        store = await asyncio.to_thread(open_store, settings.db_url)
        stack.callback(store.close)
        hub = EventHub()
        hub.bind(asyncio.get_running_loop())
        metrics = ServiceMetrics(store)
        journal = SqlJournal(store, listeners=[metrics.observe_event])
        stack.enter_context(watch_events(store, hub))
        # With the queue executor, jobs run on workers: this process needs no Docker engine.
        need: SandboxNeed = "none" if settings.executor == "queue" else "optional"
        parts = await asyncio.to_thread(stack.enter_context, open_collaborators(settings, sandbox=need))
        sandbox = parts.runner
        lifecycle = Lifecycle(store, journal)
        runs = await _run_manager(
            settings, stack, hub,
            store=store, driver=ResearchDriver(store, settings, parts, journal), lifecycle=lifecycle,
            limit=settings.max_concurrent_jobs, stop_container=sandbox.cancel if sandbox is not None else None,
            on_decided=metrics.checkpoint_wait.observe,
            on_resumed=metrics.decision_to_resume.observe,
        )
        stack.push_async_callback(runs.close)
        scheduler = Scheduler(
            store=store, settings=settings, submit=runs.submit, grace_s=settings.schedule_grace_s,
            tick_s=settings.schedule_tick_s,
        )
        stack.push_async_callback(scheduler.close)
        runtime = Runtime(
            settings=settings, store=store, hub=hub, journal=journal, metrics=metrics, lifecycle=lifecycle, runs=runs,
            scheduler=scheduler, tokens=settings.tokens(), memory=parts.memory, sandbox=sandbox,
        )
        if not runtime.tokens:
            log.warning("no LABLOOP_API_TOKEN set: every local caller is accepted as 'local'")
        await runs.recover()
        scheduler.start()
        yield runtime
