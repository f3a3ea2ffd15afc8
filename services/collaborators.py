"""The outside world a job reaches, opened in one place for the API, the worker and the CLI.

    open_collaborators(settings, sandbox="optional" | "required" | "none", memory=True|False)
        sandbox  this machine's Docker engine and the sandbox image (a DockerSandbox)
        memory   the findings memory (Chroma, embedded or LABLOOP_CHROMA_URL); a warning when it
                 cannot be opened, and jobs keep no findings
        model    the configured OpenAI-compatible endpoint, or None (jobs then use ``search``)

Everything opened is closed, in reverse, when the ``with`` block ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agents.errors import LabloopError
from agents.llm import OpenAIChatModel
from agents.protocols import ChatModel, Memory, Sandbox
from services.settings import Settings

if TYPE_CHECKING:
    from services.memory.store import ChromaMemory

log = logging.getLogger("labloop.collaborators")
SandboxNeed = Literal["required", "optional", "none"]


@dataclass
class Collaborators:
    """The sandbox, and optionally memory and a model; ``runner`` is None when no sandbox could be opened."""

    runner: Sandbox | None
    memory: Memory | None = None
    model: ChatModel | None = None


def chat_model(settings: Settings) -> ChatModel | None:
    """The configured OpenAI-compatible model, or None when no endpoint is configured."""
    if not settings.llm_configured:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return OpenAIChatModel(model=settings.llm_model, base_url=settings.llm_base_url, api_key=key,
                           timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries)


def open_sandbox(settings: Settings) -> Sandbox:
    """This machine's Docker sandbox with the configured image and pool (close it when done)."""
    from sandbox.engine import connect
    from sandbox.runner import DockerSandbox

    return DockerSandbox(connect(), image=settings.sandbox_image, work_dir=settings.home / "sandbox",
                         pool_size=settings.sandbox_pool_size, expiry_s=settings.sandbox_expiry_s,
                         policy=settings.sandbox_policy(), runtime=settings.sandbox_runtime,
                         registry=settings.sandbox_registry)


@contextmanager
def open_collaborators(
    settings: Settings, *, sandbox: SandboxNeed = "required", memory: bool = True,
    warn: Callable[[str], None] = log.warning,
) -> Iterator[Collaborators]:
    """Open the sandbox (as ``sandbox`` says), memory (unless ``memory=False``) and the model.

    A required sandbox that cannot be opened raises (DockerUnavailable, ImageMissing); an
    optional one is None, with a warning. Memory that cannot be opened is None with a warning.
    """
    with ExitStack() as stack:
        runner: Sandbox | None = None
        if sandbox != "none":
            try:
                runner = open_sandbox(settings)
            except LabloopError as exc:
                if sandbox == "required":
                    raise
                warn(f"sandbox unavailable, jobs will fail until it is: {exc}")
            else:
                stack.callback(runner.close)
        mem = _open_memory(settings, warn) if memory else None
        if mem is not None:
            stack.callback(mem.close)
        yield Collaborators(runner=runner, memory=mem, model=chat_model(settings))


def _open_memory(settings: Settings, warn: Callable[[str], None]) -> ChromaMemory | None:
    from services.memory import open_memory

    try:
        return open_memory(settings)
    except LabloopError as exc:
        warn(f"memory unavailable, findings and feedback are not kept: {exc}")
        return None

