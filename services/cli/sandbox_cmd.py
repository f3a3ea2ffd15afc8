"""``labloop sandbox build | doctor | run``."""

from __future__ import annotations

import typer

from sandbox.engine import connect
from sandbox.image import build_image
from services.cli import app
from services.settings import get_settings

sandbox_app = typer.Typer(help="Build, check and use the experiment sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("build")
def build(force: bool = typer.Option(False, "--force", help="Rebuild even when up to date.")) -> None:
    """Build the sandbox image when it is missing or its recipe changed."""
    build_image(connect(), get_settings().sandbox_image, force=force)
