"""``labloop worker``: a queue worker of the scale-out profile (see services.worker)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer

from services.cli import app
from services.settings import get_settings


@app.command("worker")
def worker(
    name: Annotated[str | None, typer.Option(help="Name shown in logs and the queue (default HOST-PID).")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=64, help="Jobs at once (default LABLOOP_WORKER_CONCURRENCY).")] = None,
) -> None:
    """Take jobs from the work queue (LABLOOP_EXECUTOR=queue, Postgres) and run them on this machine's Docker."""
    from services.api.logs import configure_logging
    from services.worker import serve_worker

    settings = get_settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"worker_concurrency": concurrency})
    configure_logging(settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per Chroma request is noise here
    asyncio.run(serve_worker(settings, name=name))
