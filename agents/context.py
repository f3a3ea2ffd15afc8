"""The runtime context: the collaborators a job's nodes use, passed in, never imported.

``services`` builds one per job run (or resume) and hands it to the graph as LangGraph's
runtime context; tests build one with the real sandbox and a local model server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from agents.protocols import ChatModel, ExperimentRunner, Journal, Memory
from agents.state import GateKind
from agents.task import Task

GatePolicy = Literal["always", "never", "auto"]
Strategy = Literal["search", "llm"]

GATE_KINDS: tuple[GateKind, ...] = get_args(GateKind)
GATE_POLICIES: tuple[GatePolicy, ...] = get_args(GatePolicy)
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
DEFAULT_GATES: dict[str, GatePolicy] = dict.fromkeys(GATE_KINDS, "auto")


def _never_stop() -> bool:
    return False


@dataclass
class ResearchContext:
    """What every node may reach: the task, the sandbox, the journal, and optionally a model and memory."""

    job_id: str
    task: Task
    task_dir: Path
    runner: ExperimentRunner
    journal: Journal
    runs_dir: Path
    strategy: Strategy = "search"
    model: ChatModel | None = None
    memory: Memory | None = None
    gates: Mapping[str, GatePolicy] = field(default_factory=lambda: dict(DEFAULT_GATES))
    price_per_1k_tokens: float | None = None
    should_stop: Callable[[], bool] = _never_stop  # cancel requested (checked by decide)
    grader_gap: float = 0.05  # relative gap between self-reported and graded metric that flags a finding

    @property
    def job_dir(self) -> Path:
        """Where this job's experiments and report live."""
        return self.runs_dir / self.job_id

    def policy(self, kind: GateKind) -> GatePolicy:
        """The gate policy for ``kind`` (``auto`` unless the job says otherwise)."""
        return self.gates.get(kind, "auto")
