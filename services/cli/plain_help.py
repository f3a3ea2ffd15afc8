"""Help without type placeholders: typer renders every parameter's type as ``<str>``/``<bool>``.

Typer (0.29) prints a parameter's Python type after its name in ``--help`` — ``--json <bool>``,
``--reason <str>``, even ``--help <bool>`` — and offers no hook to change it. Before the CLI
runs, :func:`plain_help` walks the command tree once and gives every parameter a metavar that
says what to type instead: nothing for a flag, the choices for a choice, ``TEXT``, ``INTEGER``,
``NUMBER`` or ``PATH`` for the rest (an explicit ``metavar=`` such as ``KIND=POLICY`` is kept),
and an argument's own name (``TASK_DIR``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

import typer
from typer.core import TyperArgument, TyperOption

_NAMES: dict[type, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH", bool: "BOOLEAN"}


class _NamedArgument(TyperArgument):
    """An argument shown by its name alone (``CHECKPOINT_ID``), without a type column."""

    def display_type_rich(self, ctx: Any) -> str | None:
        """No type after the name: the name says what to give."""
        return None


def _value_metavar(option: TyperOption) -> str:
    descriptor = option.type_descriptor
    if descriptor.is_choice and descriptor.choices:
        return "|".join(str(getattr(choice, "value", choice)) for choice in descriptor.choices)
    annotation = descriptor.annotation
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    return _NAMES.get(annotation, "VALUE") if isinstance(annotation, type) else "VALUE"


def plain_help(command: Any) -> Any:
    """Give every parameter of ``command`` and its subcommands a metavar instead of a type placeholder.

    ``command`` is what ``typer.main.get_command`` returns (a command of typer's own click).
    """
    # get_params with a context includes the --help option, which click creates once and caches.
    for param in command.get_params(typer.Context(command, info_name=command.name)):
        if isinstance(param, TyperArgument):
            param.__class__ = _NamedArgument  # the only way to drop the type column typer draws
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag or param.count else _value_metavar(param)
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
    return command
