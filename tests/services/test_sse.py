"""The SSE wake-up: a committed event row wakes its job's streams at once, from any thread."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from services.api.sse import EventHub, job_events, watch_events
from services.lifecycle import Lifecycle
from services.store import append_event, create_job, open_store


def test_a_committed_event_wakes_the_stream_long_before_the_poll(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'labloop.db'}") as store:
        job_id = create_job(store, task_name="t", task_dir="/t", strategy="search").id

        async def scenario() -> list[tuple[str, float]]:
            hub = EventHub()
            hub.bind(asyncio.get_running_loop())
            received: list[tuple[str, float]] = []
            with watch_events(store, hub):
                def writer() -> None:
                    for kind in ("node", "experiment"):
                        time.sleep(0.3)
                        append_event(store, job_id, kind, {"at": time.monotonic()})
                    Lifecycle(store).move(job_id, "running")
                    Lifecycle(store).move(job_id, "succeeded")
                    append_event(store, job_id, "job.finished", {"at": time.monotonic()})

                threading.Thread(target=writer, daemon=True).start()
                async for event in job_events(store, hub, job_id, after=0, poll_s=30):
                    received.append((str(event.event), time.monotonic()))
            return received

        received = asyncio.run(asyncio.wait_for(scenario(), timeout=20))
        assert [kind for kind, _ in received] == ["node", "experiment", "job.finished"]
        # With a 30 s poll, only the wake-up can deliver all three within a couple of seconds.
        assert received[-1][1] - received[0][1] < 5
