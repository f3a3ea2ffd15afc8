"""``labloop serve``: the HTTP API and the review app, jobs running in this process."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from services.cli import app
from services.settings import Settings, get_settings


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(metavar="HOST", help="Address to bind (default LABLOOP_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT", help="Port to listen on (default LABLOOP_PORT, 8000).")] = None,
) -> None:
    """Run the HTTP API (jobs run inside this process); refuses a public address without a token."""
    import uvicorn

    from services.api.app import create_app
    from services.api.logs import configure_logging

    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = Settings(**overrides) if overrides else get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=5)
