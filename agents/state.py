"""The research graph's state: a small typed dict; every list field has a reducer.

Nodes return partial updates. Lists only ever grow (``operator.add``), so a node re-run after
a crash, whose update was never committed, appends its items exactly once. Every value is a
plain JSON-like dict so the checkpointer stores it without custom serialisation.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

Json = dict[str, Any]


class ResearchState(TypedDict, total=False):
    """Everything a job needs to continue after a restart, and nothing it can recompute."""

    job_id: str
    started_at: float  # wall-clock start (epoch seconds), for the wall_clock budget
    iteration: int  # 0 = baseline; 1..budget.iterations = one idea each
    baseline: Json  # {"experiment_id", "metrics", "value", "by_seed": {seed: value}}
    best: Json  # the best verified candidate so far (or the baseline): {"experiment_id", "value", "params", "metrics"}
    idea: Json | None  # the current idea {title, hypothesis, plan, params, neighbours, source}
    candidate: Json | None  # the current change {"params", "files", "diff", "attempt"}
    last_run: Json | None  # summary of the latest execute: {"experiment_id", "status", "value", ...}
    verification: Json | None  # {"seeds", "pairs": {seed: {"baseline": v, "candidate": v}}, "verdict"}
    checkpoint: Json | None  # a human is needed at the next gate: {"kind", "flagged"} (None: go on)
    gate: Json | None  # the latest gate's decision (approve / reject / edit)
    tokens: int  # LLM tokens this job has used
    cost_usd: float
    stop_reason: str | None
    report_path: str | None
    experiments: Annotated[list[Json], operator.add]  # one summary per finished experiment
    ideas: Annotated[list[Json], operator.add]  # every idea with its fate
    findings: Annotated[list[Json], operator.add]  # verified findings (accepted or not by a human)
    decisions: Annotated[list[Json], operator.add]  # human decisions at gates
    rejections: Annotated[list[Json], operator.add]  # rejected ideas/code with reasons, fed to ideation
    notes: Annotated[list[str], operator.add]  # one-line notices for the report (fallbacks, budget)


def initial_state(job_id: str, started_at: float) -> ResearchState:
    """The state a new job starts from."""
    return ResearchState(
        job_id=job_id, started_at=started_at, iteration=0, baseline={}, best={}, idea=None, candidate=None,
        last_run=None, verification=None, checkpoint=None, gate=None, tokens=0, cost_usd=0.0, stop_reason=None,
        report_path=None, experiments=[], ideas=[], findings=[], decisions=[], rejections=[], notes=[],
    )
