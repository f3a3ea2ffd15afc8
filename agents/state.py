"""The research graph's state and the typed records that flow between its nodes.

A job grows a **tree of solution nodes** (:class:`Node`): the baseline is the root, every
other node is a workspace state (changed files + params) made from its parent by an operator,
with its idea, its runs, its verdict and the model's lesson. The best verified node is the
**incumbent**. Nodes are kept in one list merged *by id* (:func:`upsert_nodes`), so a node
re-written later (its fate, its verdict) replaces its earlier version, and a node re-run after
a crash, whose update was never committed, is written exactly once.

Every other list only grows (``operator.add``). Token and cost counts are *deltas* summed by
their reducer, because parallel branches spend tokens in the same step. Values are plain
JSON-like dicts so the checkpointer stores them without custom serialisation.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from agents.checkpoints import DecisionAction

Json = dict[str, Any]
Operator = Literal["root", "draft", "improve", "debug", "ablate"]
GateKind = Literal["idea", "code", "finding", "paper"]
ROOT = "root"


class Idea(TypedDict):
    """What a branch tries: the strategy's idea and where it came from."""

    title: str
    hypothesis: str
    plan: str
    params: Json
    source: str  # "search" | "llm" | "seed" (a template's seed_ideas.json) | "baseline" | "ablate"
    neighbours: NotRequired[list[Json]]  # the novelty check's nearest memory records
    novelty: NotRequired[str]
    citations: NotRequired[list[str]]
    attempt: NotRequired[int]
    edited_by: NotRequired[str]


class Change(TypedDict):
    """A branch's candidate workspace: every changed file and the params, cumulative from the root."""

    params: Json
    files: dict[str, str]
    diff: str  # unified diff from the root
    explanation: str
    edited_by: NotRequired[str]  # a human changed it at the code gate


class Run(TypedDict):
    """One finished experiment, as the job keeps it (output tails only on a node's own run)."""

    experiment_id: str
    iteration: int  # the round it ran in (0: the baseline's)
    node: str
    role: str  # baseline | candidate | debug | replicate
    seed: int
    params: Json
    files: list[str]
    idea_title: str
    status: str
    value: float | None
    metrics: dict[str, float]
    duration_s: float
    error: str | None
    artifacts: list[str]
    stdout_tail: NotRequired[str]
    stderr_tail: NotRequired[str]
    self_reported: NotRequired[dict[str, float]]  # what the experiment wrote itself, when a grader measured it
    grader_gap: NotRequired[str]  # why its own score differs suspiciously from the grader's
    duplicate_of: NotRequired[str]  # not run: the node whose run of the same content this is (agents/duplicates.py)


class Verdict(TypedDict):
    """The paired-replicate judgement of a candidate against the incumbent (see agents/verify.py)."""

    verified: bool
    mean_gain: float
    stderr: float
    n: int
    reason: str
    against: str  # the incumbent's node id
    pairs: dict[str, Json]  # seed → {"incumbent": v, "candidate": v}
    baseline_pairs: dict[str, Json]  # seed → {"baseline": v, "candidate": v}, for the overall gain
    baseline_gain: float | None
    replicates: NotRequired[int]  # pairs spent on the decision (absent in verdicts made before sequential looks)
    looks: NotRequired[list[Json]]  # each look's numbers (agents/verify.py ``Look``), in order
    bound: NotRequired[float]  # the last look's lower confidence bound on the gain
    tolerance: NotRequired[float]  # what the gain had to beat


class Critique(TypedDict):
    """A structured review of a verified finding (strategy llm)."""

    soundness: str
    confounds: list[str]
    ablation: str
    flaw: str  # empty when the reviewer names no flaw
    flagged: bool


class Node(TypedDict):
    """One solution in the tree."""

    id: str
    parent: str | None
    operator: Operator
    round: int
    debug_depth: int  # consecutive debug operators above and at this node
    idea: Idea
    files: dict[str, str]  # every file that differs from the task folder (cumulative from the root)
    params: Json  # the params.json this node runs with (cumulative from the root)
    diff: str  # unified diff from the root
    explanation: str
    status: Literal["succeeded", "failed", "rejected", "empty"]  # empty: a root with no solution yet
    value: float | None  # the metric on seed 0
    metrics: dict[str, float]
    error: str | None
    output_tail: str  # stdout/stderr tail of its seed-0 run
    experiment_id: str | None
    fate: str  # proposed → verified | not_verified | better_on_seed0 (untested) | no_gain | failed | rejected | adopted | duplicate of NODE
    # (adopted: the first solution of a task that started from data; its root's fate is no_solution)
    summary: str
    lesson: str
    verdict: Verdict | None
    critique: Critique | None
    self_reported: NotRequired[dict[str, float]]  # its seed-0 run's own metrics, when a grader measured it
    grader_gap: NotRequired[str]
    refused: NotRequired[str]  # "protected file: PATH": the change was refused before it ran
    duplicate_of: NotRequired[str]  # its content was already in the tree: it took that node's run


class Finding(TypedDict):
    """A verified improvement over the incumbent, with its evidence and what a human decided."""

    iteration: int
    node: str
    title: str
    hypothesis: str
    summary: str
    experiment_id: str | None
    value: float | None
    params: Json
    mean_gain: float
    stderr: float
    n: int
    pairs: dict[str, Json]
    against: str
    baseline_pairs: dict[str, Json]
    baseline_gain: float | None
    rule: str
    replicates: NotRequired[int]  # pairs its verification spent
    looks: NotRequired[list[Json]]  # the sequential rule's looks (agents/verify.py ``Look``)
    diff: str
    accepted: bool
    decided_by: str
    reason: str
    artifacts: list[str]
    critique: Critique | None


class PaperState(TypedDict):
    """Where a job's write-up stands (``runs/JOB/paper/``).

    ``status``: wanted (the report asked for it) → drafted (written; at its gate, or waiting for
    one) → published (approved, or no human was needed) | rejected (rejected again after its one
    revision: kept, not published).
    """

    status: Literal["wanted", "drafted", "published", "rejected"]
    asked: int  # paper checkpoints asked so far (the next one's id ends in this number)
    revisions: int  # revisions made on a human's reason (at most one)
    source: str  # who wrote the prose: model | template | human
    flagged: list[str]  # why a human should look: the claim check's numerals, the meta-review's rejection
    pdf: str | None  # paper/paper.pdf (relative to the job's folder), None when it could not be rendered


class CheckpointRequest(TypedDict):
    """A human is needed at the next gate, and why (the auto policy's flags)."""

    kind: GateKind
    flagged: list[str]


class Decision(TypedDict):
    """A human decision made at a gate."""

    kind: GateKind
    checkpoint_id: str
    iteration: int
    node: str
    flagged: list[str]
    subject: str
    action: DecisionAction
    reason: str
    edit: Json
    by: str
    at: str | None


class Rejection(TypedDict):
    """An idea or change a human rejected, with the reason later ideas must respect."""

    kind: GateKind
    idea: Json
    reason: str
    iteration: int


class Expansion(TypedDict):
    """What select hands one parallel branch: which node to make, from which parent, by which operator."""

    node: str
    round: int
    slot: int
    operator: Operator
    parent: str
    proposal: Json | None  # the search sampler's params for this slot (distinct across slots)


class Verification(TypedDict):
    """The join's choice of a candidate to verify against the incumbent."""

    node: str
    against: str
    seeds: list[int]


def upsert_nodes(old: list[Node], new: list[Node]) -> list[Node]:
    """Merge nodes by id: a later version replaces an earlier one in place; new ids append."""
    merged = {n["id"]: n for n in old}
    merged.update({n["id"]: n for n in new})
    return list(merged.values())


def first_reason(old: str | None, new: str | None) -> str | None:
    """Keep the first stop reason (parallel branches may both run out of budget in one step)."""
    return old or new


class ResearchState(TypedDict, total=False):
    """Everything a job needs to continue after a restart, and nothing it can recompute."""

    job_id: str
    started_at: float  # wall-clock start (epoch seconds), for the wall_clock budget
    iteration: int  # the round: 0 = baseline; 1..budget.iterations = one expansion round each
    # {"experiment_id", "value", "metrics", "by_seed": {seed: value}}: the reference gains are measured from.
    # A task that started from data has none: "missing" names its absent solution file, and once a
    # draft was adopted as the first incumbent, "node" names it and the other fields are its.
    baseline: Json
    best: Json  # the incumbent's {"experiment_id", "value", "params", "metrics", "title", "node"}
    incumbent: str  # the incumbent's node id
    nodes: Annotated[list[Node], upsert_nodes]
    expansions: list[Expansion]  # this round's
    verification: Verification | None
    verdict: Verdict | None  # this round's verdict on the verification candidate
    critique: Critique | None
    checkpoint: CheckpointRequest | None  # the finding gate is needed
    gate: Decision | None  # the finding gate's decision
    tokens: Annotated[int, operator.add]  # LLM tokens this job has used (updates are deltas)
    cost_usd: Annotated[float, operator.add]
    stop_reason: Annotated[str | None, first_reason]
    report_path: str | None
    paper: PaperState | None  # the write-up (jobs with --paper): see agents/nodes/paper.py
    experiments: Annotated[list[Run], operator.add]  # one summary per finished experiment
    findings: Annotated[list[Finding], operator.add]  # verified findings (accepted or not by a human)
    decisions: Annotated[list[Decision], operator.add]  # human decisions at gates
    rejections: Annotated[list[Rejection], operator.add]  # rejected ideas/code with reasons
    notes: Annotated[list[str], operator.add]  # one-line notices for the report (fallbacks, budget)


class BranchOutput(TypedDict, total=False):
    """What a branch returns to the job: its node, its runs, its spending and its decisions."""

    nodes: Annotated[list[Node], upsert_nodes]
    experiments: Annotated[list[Run], operator.add]
    tokens: Annotated[int, operator.add]
    cost_usd: Annotated[float, operator.add]
    decisions: Annotated[list[Decision], operator.add]
    rejections: Annotated[list[Rejection], operator.add]
    notes: Annotated[list[str], operator.add]
    stop_reason: Annotated[str | None, first_reason]


class BranchState(BranchOutput, total=False):
    """One parallel branch: ideate → gate_idea → implement → gate_code → execute → review.

    ``expansion`` and the ``tree`` snapshot come from select; the rest is the branch's own
    work. Only :class:`BranchOutput`'s keys flow back into the job's state.
    """

    expansion: Expansion
    iteration: int  # the round (read-only here; progress lines show it)
    tree: list[Node]  # the tree as select saw it (read-only here)
    incumbent: str
    baseline: Json
    prior_rejections: list[Rejection]
    prior_decisions: list[Decision]  # the job's human decisions so far (edits' files named, not whole)
    tokens_before: int  # the job's tokens when the round started
    idea: Idea | None
    candidate: Change | None
    run: Run | None
    checkpoint: CheckpointRequest | None
    gate: Decision | None
    refused: str | None  # the change touched a protected file: the branch ends rejected


def initial_state(job_id: str, started_at: float) -> ResearchState:
    """The state a new job starts from."""
    return ResearchState(
        job_id=job_id, started_at=started_at, iteration=0, baseline={}, best={}, incumbent=ROOT, nodes=[],
        expansions=[], verification=None, verdict=None, critique=None, checkpoint=None, gate=None, tokens=0,
        cost_usd=0.0, stop_reason=None, report_path=None, paper=None, experiments=[], findings=[], decisions=[],
        rejections=[], notes=[],
    )
