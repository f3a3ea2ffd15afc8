"""Prompts as named templates (``<name>.md`` beside this file), rendered by one function."""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template


@cache
def _template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8"))


def render(name: str, **values: object) -> str:
    """Render template ``name`` with ``values``; a missing value is an error, not a blank."""
    return _template(name).substitute({k: str(v) for k, v in values.items()})


def messages(step: str, *, instructions: str = "", environment: str = "", template: str | None = None,
             **values: object) -> list[dict[str, str]]:
    """The chat messages of one step: the shared system preamble (with the job's ``environment``
    facts and the task's own ``instructions``, e.g. an AI Scientist template's system prompt) and
    the step's template (or ``template``, a variant of the step such as a draft's idea)."""
    system = render("system", step=step)
    if environment.strip():
        system += f"\n{environment.strip()}\n"
    if instructions.strip():
        system += f"\nThe task's own instructions:\n{instructions.strip()}\n"
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": render(template or step, **values)},
    ]
