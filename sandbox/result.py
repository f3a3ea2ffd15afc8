"""What one experiment run returns, and the limits it runs under."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

RunStatus = Literal["succeeded", "failed", "timed_out", "oom_killed"]


class Artifact(BaseModel):
    """A file the experiment wrote under ``$LABLOOP_OUTPUT`` (besides metrics.json)."""

    path: str
    size: int
    sha256: str


class ExperimentResult(BaseModel):
    """The outcome of one sandboxed run; user-code failure is data, not an exception."""

    status: RunStatus
    exit_code: int | None = None
    duration_s: float = 0.0
    metrics: dict[str, float] = Field(default_factory=dict)
    stdout_tail: str = ""
    stderr_tail: str = ""
    error: str | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    """What the sandbox skipped or noticed (links, bad names, files past a limit), in words."""
    self_reported: dict[str, float] | None = None
    """The metrics the run's own code wrote, when another run (a grader) measured ``metrics``."""

    @property
    def succeeded(self) -> bool:
        """True when the run finished and reported its metrics."""
        return self.status == "succeeded"


class Limits(BaseModel):
    """Resource limits of one container; defaults are the locked-down ones of docs/design.md."""

    cpus: float = Field(1.0, gt=0)
    memory: str = "1g"
    pids: int = Field(256, gt=0)
    timeout_s: float = Field(300.0, gt=0)
    network: Literal["none", "bridge"] = "none"
    tmpfs_size: str = "64m"
    disk_bytes: int = Field(256 * 1024 * 1024, gt=0)
    """The run's disk (workspace and outputs together), enforced by the kernel where it can be."""
    max_files: int = Field(20_000, gt=0)
    """How many files and folders the run's disk (and /tmp) may hold."""
    gpus: int = Field(0, ge=-1)
    """GPUs through the NVIDIA runtime: 0 none, N that many, -1 all."""
    output_cap_bytes: int = Field(64 * 1024 * 1024, gt=0)
    stream_cap_bytes: int = Field(1024 * 1024, gt=0)
    tail_bytes: int = Field(8 * 1024, gt=0)


OutputSink = Callable[[str, str], None]
"""Receives ``(stream, text)`` chunks of an experiment's stdout/stderr as they arrive."""


@dataclass(frozen=True)
class RunRequest:
    """One experiment for the sandbox: a prepared workspace and how to run it."""

    workspace: Path
    output_dir: Path
    command: str
    limits: Limits
    seed: int = 0
    metric: str | None = None
    metrics_required: bool = True
    """False: a run without (valid) metrics.json still succeeds (another run measures it)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Who the run belongs to; the sandbox understands ``job`` and ``experiment``."""
    env: Mapping[str, str] = field(default_factory=dict)
    image: str | None = None
    """The sandbox image; None means the runner's default image."""
    inputs: Path | None = None
    """A folder the run may read but not change, at ``$LABLOOP_SUBMISSION`` (e.g. another run's outputs)."""
