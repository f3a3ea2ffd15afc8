"""The small protocols through which the graph reaches the outside world.

``services`` wires real implementations (Docker sandbox, ChromaDB memory, an
OpenAI-compatible endpoint); tests wire the same real parts cheaply. The graph never
imports an implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sandbox.facts import ImageFacts
from sandbox.result import ExperimentResult, OutputSink, RunRequest

__all__ = ["ExperimentRunner", "Sandbox", "RunRequest", "OutputSink", "Memory", "MemoryRecord", "ChatModel",
           "ChatReply", "Journal", "ExperimentRecord", "ImageFacts"]

class ExperimentRunner(Protocol):
    """Runs one experiment in a fresh container and returns its result."""

    def run(self, request: RunRequest, on_output: OutputSink | None = None) -> ExperimentResult:
        """Run ``request`` to completion (or timeout); user-code failure is data."""
        ...


class Sandbox(ExperimentRunner, Protocol):
    """The sandbox a service opens: it runs experiments, and answers for its engine."""

    def ping(self) -> None:
        """Return when the container engine answers; raise DockerUnavailable when it does not."""
        ...

    def cancel(self, job_id: str) -> int:
        """Kill the running containers of ``job_id``; return how many."""
        ...

    def environment(self, requirements: str, log: Callable[[str], None]) -> str:
        """The image tag of a task environment (the sandbox image plus ``requirements``),
        built once and cached; raise EnvironmentBuildFailed naming the package that failed."""
        ...

    def facts(self, image: str | None = None) -> ImageFacts:
        """The Python and package versions of ``image`` (default the sandbox image), cached per image."""
        ...

    def close(self) -> None:
        """Stop the pool and the reaper; remove what the sandbox created."""
        ...


MemoryKind = Literal["findings", "ideas", "feedback", "literature"]


@dataclass(frozen=True)
class MemoryRecord:
    """One stored memory record with its metadata (job, task, iteration, metric, ...)."""

    id: str
    kind: MemoryKind
    text: str
    metadata: Mapping[str, Any]
    distance: float | None = None


class Memory(Protocol):
    """The long-term research memory (findings, ideas, feedback, literature).

    ``where`` is a flat mapping of metadata equalities (``{"task": "digits", "verified":
    True}``, all must hold) or a Chroma filter (``{"$or": [...]}``). Distances are cosine
    distances (0 = same direction). Build records with the builders in :mod:`agents.recall`
    so every writer uses the same ids and metadata keys.
    """

    def add(self, kind: MemoryKind, record_id: str, text: str, metadata: Mapping[str, Any]) -> None:
        """Store (or overwrite, by id) one record."""
        ...

    def nearest(
        self, kind: MemoryKind, text: str, *, k: int = 5, where: Mapping[str, Any] | None = None
    ) -> Sequence[MemoryRecord]:
        """The ``k`` records of ``kind`` closest to ``text``, optionally filtered by metadata."""
        ...

    def records(
        self, kind: MemoryKind, *, where: Mapping[str, Any] | None = None, limit: int = 100
    ) -> Sequence[MemoryRecord]:
        """Records of ``kind`` matching ``where`` (no ranking)."""
        ...

    @property
    def novelty_threshold(self) -> float:
        """The cosine distance under which two ideas count as the same (it depends on the embedder)."""
        ...

    def search(
        self,
        query: str,
        *,
        kinds: Sequence[MemoryKind] = ("findings", "ideas", "feedback", "literature"),
        where: Mapping[str, Any] | None = None,
        k: int = 10,
    ) -> Sequence[MemoryRecord]:
        """The ``k`` records closest to ``query`` over several kinds, closest first."""
        ...


@dataclass(frozen=True)
class ChatReply:
    """One chat completion: its text and the tokens it used."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    truncated: bool = False  # the endpoint stopped at the reply's token limit (finish_reason "length")


class ChatModel(Protocol):
    """An OpenAI-compatible chat endpoint."""

    max_tokens: int
    """The most tokens one reply may have, unless a call says otherwise."""

    def complete(self, messages: Sequence[Mapping[str, str]], *, json_mode: bool = False,
                 max_tokens: int | None = None) -> ChatReply:
        """Send ``messages`` and return the reply (at most ``max_tokens`` long); raise LLMError on
        failure after retries."""
        ...


ExperimentRole = Literal["baseline", "candidate", "debug", "replicate"]


@dataclass(frozen=True)
class ExperimentRecord:
    """What the journal keeps of one experiment; ``id`` is deterministic so writes are upserts."""

    id: str
    job_id: str
    iteration: int
    role: ExperimentRole
    params: Mapping[str, Any]
    seed: int
    status: Literal["running", "succeeded", "failed", "timed_out", "oom_killed", "cancelled"]
    idea_title: str = ""
    diff: str = ""
    result: ExperimentResult | None = None
    output_dir: str = ""


class Journal(Protocol):
    """Where the graph records experiments and progress events (the app database).

    Every write is idempotent: a node re-run after a crash writes the same ids again and
    nothing is recorded twice.
    """

    def record_experiment(self, record: ExperimentRecord) -> None:
        """Insert or update the experiment ``record.id``."""
        ...

    def emit(self, job_id: str, kind: str, data: Mapping[str, Any]) -> None:
        """Append a progress event (node started, experiment output, ...) to the job's stream."""
        ...
