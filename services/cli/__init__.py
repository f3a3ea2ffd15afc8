"""The ``labloop`` command line: one typer app, one module per group of commands.

Every listing and ``run``/``sandbox run`` accept ``--json``: one JSON document on stdout,
progress on stderr. Domain errors become a one-line message and a non-zero exit here.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from agents.errors import LabloopError
from services.cli.terminal import printable

app = typer.Typer(
    name="labloop",
    help="An autonomous research-agent service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version() -> str:
    try:
        return version("labloop")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"labloop {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    _version_flag: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print labloop's version and exit.")] = False,
) -> None:
    """An autonomous research-agent service."""


def _register() -> None:
    # Each command group lives in its own module and adds itself to ``app``.
    from services.cli import (
        api_cmd,  # noqa: F401
        decide_cmd,  # noqa: F401
        memory_cmd,  # noqa: F401
        run_cmd,  # noqa: F401
        sandbox_cmd,  # noqa: F401
        worker_cmd,  # noqa: F401
    )


def main() -> None:
    """Entry point of the ``labloop`` console script."""
    from typer.main import get_command

    from services.cli.plain_help import plain_help

    _register()
    command = plain_help(get_command(app))
    try:
        command(prog_name="labloop")
    except LabloopError as exc:
        typer.echo(printable(f"error: {exc}"), err=True)  # an error may quote an experiment or a model
        sys.exit(2)
