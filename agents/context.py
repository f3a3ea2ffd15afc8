"""The runtime context: the collaborators a job's nodes use, passed in, never imported.

``services`` builds one per job run (or resume) and hands it to the graph as LangGraph's
runtime context; tests build one with the real sandbox and a local model server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from agents.protocols import ChatModel, ExperimentRunner, ImageFacts, Journal, Memory
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


CODE_STEPS = frozenset({"implement", "debug", "draft", "paper"})  # replies with whole files, many edits or a paper


@dataclass(frozen=True)
class ModelLimits:
    """How much the model reads and writes: its context window and each step's reply limit.

    The prompt's job context is sized from ``context_tokens`` less the step's reply (see
    :func:`agents.briefing.allowance`); code steps get the larger reply limit.
    """

    context_tokens: int = 32_000
    code_reply_tokens: int = 8_000
    text_reply_tokens: int = 2_000

    def reply_tokens(self, step: str) -> int:
        """The ``max_tokens`` of one reply of ``step``."""
        return self.code_reply_tokens if step in CODE_STEPS else self.text_reply_tokens

    @staticmethod
    def setting(step: str) -> str:
        """The setting that raises ``step``'s reply limit (named in the error of a reply cut off)."""
        return "LABLOOP_LLM_MAX_TOKENS_CODE" if step in CODE_STEPS else "LABLOOP_LLM_MAX_TOKENS_TEXT"


@dataclass
class JobSpending:
    """The job's LLM tokens and cost as this process has counted them, shared by parallel branches.

    Each branch sees the job's tokens as the round's start plus its own; told alone, two branches
    would report totals that go backwards (2290, then 2158). The tally is raised to what the step
    saw before it (so a resumed process starts from the state), then the step's own spending is
    added, under a lock: the totals the ``llm`` events report only grow.
    """

    tokens: int = 0
    cost_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, seen_tokens: int, tokens: int, seen_cost_usd: float, cost_usd: float,
            announce: Callable[[int, float], object]) -> None:
        """Add one step's spending (``tokens``, ``cost_usd``) to the tally, which is at least what the step
        saw before it (``seen_…``), and ``announce`` the job's totals while holding the lock (announced
        after it, two branches' totals could be recorded in the other order)."""
        with self._lock:
            self.tokens = max(self.tokens, seen_tokens) + tokens
            self.cost_usd = max(self.cost_usd, seen_cost_usd) + cost_usd
            announce(self.tokens, self.cost_usd)


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
    limits: ModelLimits = field(default_factory=ModelLimits)
    image_facts: ImageFacts | None = None  # the Python and package versions of the task's image
    should_stop: Callable[[], bool] = _never_stop  # cancel requested (checked by decide)
    grader_gap: float = 0.05  # relative gap between self-reported and graded metric that flags a finding
    spending: JobSpending = field(default_factory=JobSpending)  # the job's running LLM totals (llm events)
    paper: bool = False  # write the results up after the report (agents/nodes/paper.py)
    reviewers: int = 3  # automated reviews of the paper
    literature_url: str | None = None  # a Semantic Scholar-compatible API for the paper's references
    chromium: str | None = None  # the Chromium that prints the paper's PDF (None: the one on the PATH)

    @property
    def job_dir(self) -> Path:
        """Where this job's experiments and report live."""
        return self.runs_dir / self.job_id

    def policy(self, kind: GateKind) -> GatePolicy:
        """The gate policy for ``kind`` (``auto`` unless the job says otherwise)."""
        return self.gates.get(kind, "auto")
