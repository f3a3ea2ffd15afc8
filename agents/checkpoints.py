"""The checkpoint contract: what a gate shows a human, and what the human answers.

One payload model per gate kind (:class:`IdeaPayload`, :class:`CodePayload`,
:class:`FindingPayload`, :class:`PaperPayload`) and one decision vocabulary (:data:`DecisionAction`,
:class:`HumanDecision`, :class:`Decided`), defined here and nowhere else:

    gate (agents/nodes/gates.py) ── payload ──► interrupt ──► checkpoint row ──► API / CLI / app
    API, CLI, terminal ── HumanDecision ──► decision row ── Decided (resume value) ──► gate

The producer (a gate) builds a payload model and stores its JSON; every reader goes through
:func:`read_payload`, which tolerates payloads written before a field existed (every field has
a default) and fields it does not know (ignored), so a checkpoint left pending by older code
still loads and can be decided. This module imports only the errors: the graph's state, the
services and the API schema all import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.errors import InvalidInput

DecisionAction = Literal["approve", "reject", "edit"]
ACTIONS: tuple[DecisionAction, ...] = get_args(DecisionAction)

Json = dict[str, Any]


def branch_label(*, round_: int, node: str, operator: str, parent: str | None, slot: int | None = None) -> str:
    """Which branch asks, in words: ``round 2, slot 1 (r2s1): improve of r1s0``.

    Parallel branches of one round wait at their gates at the same time; this label is how a
    reviewer tells their checkpoints apart.
    """
    where = f"round {round_}" + (f", slot {slot}" if slot is not None else "")
    return f"{where} ({node}): {operator} of {parent or 'the task'}"


class NodeMetrics(BaseModel):
    """A node's measured result as a reviewer compares it: its metric on seed 0 and all its metrics."""

    model_config = ConfigDict(extra="ignore")

    node: str
    title: str = ""
    value: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


class _Payload(BaseModel):
    # Tolerant on read: a payload stored by older code lacks the newer fields (defaults) and may
    # carry keys this version dropped (ignored), and must still load so it can be decided.
    model_config = ConfigDict(extra="ignore")

    iteration: int = Field(0, description="The round that asks (0: the baseline's).")
    node: str = Field("", description="The tree node the gate is about, e.g. r2s1.")
    branch: str = Field("", description="Which branch asks, e.g. 'round 2, slot 1 (r2s1): improve of r1s0'; "
                                        "it tells parallel checkpoints of one round apart.")
    title: str = Field("", description="The idea's title.")


class IdeaPayload(_Payload):
    """Before implement: the idea a branch would try."""

    kind: Literal["idea"] = "idea"
    parent: str | None = Field(None, description="The node the idea would change.")
    operator: str = Field("", description="draft, improve, debug or ablate.")
    hypothesis: str = ""
    plan: str = ""
    params: Json = Field(default_factory=dict, description="The params the idea proposes.")
    neighbours: list[Json] = Field(default_factory=list, description="The nearest ideas in memory, with their fate.")
    novelty: str | None = Field(None, description="The novelty check's verdict.")


class CodePayload(_Payload):
    """Before execute (the action guard): the change that would run, and what to judge it by."""

    kind: Literal["code"] = "code"
    parent: str | None = Field(None, description="The node the change is made from.")
    operator: str = ""
    hypothesis: str = ""
    plan: str = ""
    explanation: str = Field("", description="The model's (or the strategy's) account of the change.")
    params: Json = Field(default_factory=dict, description="params.json as it would run (cumulative from the root).")
    files: dict[str, str] = Field(default_factory=dict, description="Every changed file, whole (from the root).")
    diff_from_parent: str = Field("", description="What this branch changes: the unified diff from its parent.")
    diff: str = Field("", description="The unified diff from the task's own files (the root); an edit is made "
                                      "against it.")
    parent_metrics: NodeMetrics | None = Field(None, description="The parent's result (none for the root's child "
                                                                 "before the baseline ran).")
    incumbent_metrics: NodeMetrics | None = Field(None, description="The best verified node's result.")


class FindingPayload(_Payload):
    """Before a verified finding is accepted: its paired evidence, critique and change."""

    kind: Literal["finding"] = "finding"
    verdict: Json = Field(default_factory=dict, description="The paired-replicate verdict (mean_gain, stderr, n, ...).")
    pairs: dict[str, Json] = Field(default_factory=dict, description="seed → {incumbent, candidate}.")
    baseline_pairs: dict[str, Json] = Field(default_factory=dict, description="seed → {baseline, candidate}.")
    params: Json = Field(default_factory=dict)
    diff: str = Field("", description="The unified diff from the task's own files (the root).")
    critique: Json | None = Field(None, description="The model's critique (strategy llm), or none.")
    metrics: NodeMetrics | None = Field(None, description="The finding's own result (seed 0).")
    incumbent_metrics: NodeMetrics | None = Field(None, description="The incumbent it was verified against.")


PAPER_SECTIONS = ("title", "abstract", "introduction", "method", "results", "limitations")


class PaperPayload(_Payload):
    """Before a write-up is published: the paper, its claim check and its automated reviews."""

    kind: Literal["paper"] = "paper"
    revision: int = Field(0, description="0: the first draft; 1: the draft revised on a human's reason.")
    source: str = Field("", description="Who wrote the prose: model, template or human.")
    markdown: str = Field("", description="paper.md as rendered: every number filled in from the journal.")
    prose: dict[str, str] = Field(default_factory=dict, description=(
        "The prose by section (title, abstract, introduction, method, results, limitations), with its "
        "references such as {{gain r2s0}} unrendered: what an edit replaces."))
    claims: list[Json] = Field(default_factory=list, description=(
        "The claim check: every numeral in the prose that no reference or the task text accounts for "
        "({numeral, section, context})."))
    review: Json = Field(default_factory=dict, description="review.json: {reviews, meta, unavailable}.")
    figures: list[Json] = Field(default_factory=list, description="The paper's figures: {file, caption}.")
    pdf: str | None = Field(None, description="paper/paper.pdf relative to the job's folder; none when it "
                                              "could not be rendered (pdf_error says why).")
    pdf_error: str = ""


Payload = IdeaPayload | CodePayload | FindingPayload | PaperPayload
PAYLOADS: dict[str, type[IdeaPayload] | type[CodePayload] | type[FindingPayload] | type[PaperPayload]] = {
    "idea": IdeaPayload, "code": CodePayload, "finding": FindingPayload, "paper": PaperPayload,
}


def read_payload(kind: str, raw: Any) -> Payload:
    """The typed payload of a stored checkpoint of ``kind`` (old shapes included; see the module doc)."""
    try:
        model = PAYLOADS[kind]
    except KeyError:
        raise ValueError(f"unknown checkpoint kind {kind!r}; one of {', '.join(PAYLOADS)}") from None
    return model.model_validate({**(raw if isinstance(raw, dict) else {}), "kind": kind})


class HumanDecision(BaseModel):
    """What a human decides at a checkpoint: the body of the API's decision, the CLI's and the terminal's answer."""

    model_config = ConfigDict(extra="forbid")

    action: DecisionAction = Field(description="approve, reject (with a reason) or edit (with an edit).")
    reason: str = Field("", max_length=10_000, description="Why; required to reject (later ideas avoid it).")
    edit: Json | None = Field(None, description="An edit: the changed idea {title, hypothesis, plan, params}, "
                                                "change {params, files}, finding {summary} or paper {title, abstract, ...}.")

    @model_validator(mode="after")
    def _complete(self) -> HumanDecision:
        if self.action == "reject" and not self.reason.strip():
            raise ValueError("a rejection needs a reason: it is kept so later ideas avoid it")
        if self.action == "edit" and not self.edit:
            raise ValueError("an edit decision needs an 'edit' object (idea, params or files)")
        return self


class Decided(HumanDecision):
    """A recorded decision as the gate reads it on resume: who made it, and when."""

    by: str = "human"
    at: str | None = None


class IdeaEdit(BaseModel):
    """An edit at the idea gate: the fields of the idea that change."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    hypothesis: str | None = None
    plan: str | None = None
    params: Json | None = None


class CodeEdit(BaseModel):
    """An edit at the code gate: the params and/or whole files that run instead."""

    model_config = ConfigDict(extra="forbid")

    params: Json | None = None
    files: dict[str, str] | None = None


class FindingEdit(BaseModel):
    """An edit at the finding gate: the finding's summary in the reviewer's words."""

    model_config = ConfigDict(extra="forbid")

    summary: str


class PaperEdit(BaseModel):
    """An edit at the paper gate: sections of prose that replace the draft's (references such as
    ``{{node r2s0 accuracy}}`` are rendered again from the journal; tables and figures stay generated)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, max_length=500)
    abstract: str | None = Field(None, max_length=20_000)
    introduction: str | None = Field(None, max_length=50_000)
    method: str | None = Field(None, max_length=50_000)
    results: str | None = Field(None, max_length=50_000)
    limitations: str | None = Field(None, max_length=50_000)


EDITS: dict[str, type[IdeaEdit] | type[CodeEdit] | type[FindingEdit] | type[PaperEdit]] = {
    "idea": IdeaEdit, "code": CodeEdit, "finding": FindingEdit, "paper": PaperEdit,
}

_D = TypeVar("_D", HumanDecision, Decided)


def _plain(exc: ValidationError) -> str:
    """A validation error in words that say what to fix (the allowed actions named)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        if where == "action":
            parts.append(f"action must be one of {', '.join(ACTIONS)}, got {err.get('input')!r}")
        elif err["type"] == "extra_forbidden":
            parts.append(f"unknown field {where!r}")
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def parse_decision(raw: Mapping[str, Any], *, kind: str | None = None) -> HumanDecision:
    """``raw`` as a :class:`HumanDecision`, its edit checked against the gate ``kind``'s edit shape;
    InvalidInput that says what to fix otherwise."""
    return _parse(HumanDecision, raw, kind)


def parse_decided(raw: Mapping[str, Any], *, kind: str | None = None) -> Decided:
    """``raw`` (a resume value, or a handler's answer) as a :class:`Decided`, checked as :func:`parse_decision`."""
    return _parse(Decided, raw, kind)


def _parse(model: type[_D], raw: Mapping[str, Any], kind: str | None) -> _D:
    try:
        made = model.model_validate(dict(raw))
    except ValidationError as exc:
        raise InvalidInput(f"a {kind + ' ' if kind else ''}decision is not valid: {_plain(exc)}") from exc
    if kind is not None and made.edit:
        shape = EDITS[kind]
        try:
            shape.model_validate(made.edit)
        except ValidationError as exc:
            raise InvalidInput(f"an edit at the {kind} gate takes {', '.join(shape.model_fields)}: "
                               f"{_plain(exc)}") from exc
    return made
