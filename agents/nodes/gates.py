"""The three human gates. A gate node runs only when a human must be asked, and only interrupts.

The node before a gate (a branch's ideate or implement; verify or critique for findings)
decides, from the gate's policy and :mod:`agents.flags`, whether a human is needed and leaves
a ``checkpoint`` request ``{"kind", "flagged"}`` in the state; the router sends the job
through the gate only then. Gates in parallel branches wait at the same time, each its own
checkpoint (id ``{job}-{node}-{kind}-0``), decided in any order.
Policy ``never`` never asks, ``always`` always asks, ``auto`` asks only when something was
flagged. LangGraph re-runs a node from its start on resume, so nothing with a side effect
sits in a gate: it reads the state, interrupts, and returns the decision (and, for an edit,
the edited idea or change) as a state update.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, Field

from agents import tree
from agents.context import ResearchContext
from agents.errors import InvalidInput
from agents.experiments import diff_of
from agents.protected import refusal
from agents.state import (
    BranchState,
    Change,
    CheckpointRequest,
    Decision,
    GateKind,
    Json,
    ResearchState,
)

_IDEA_FIELDS = ("title", "hypothesis", "plan", "params")


class GateDecision(BaseModel):
    """A resume value: what the human decided at a checkpoint."""

    action: Literal["approve", "reject", "edit"]
    reason: str = ""
    edit: dict[str, Any] = Field(default_factory=dict)
    by: str = "human"
    at: str | None = None


def checkpoint_id(job_id: str, node: str, kind: GateKind, n: int = 0) -> str:
    """The deterministic id of a checkpoint (the same when a node re-runs after a crash)."""
    return f"{job_id}-{node}-{kind}-{n}"


def request(ctx: ResearchContext, kind: GateKind, flagged: list[str]) -> CheckpointRequest | None:
    """The checkpoint request the gate's policy calls for (None: no human needed)."""
    policy = ctx.policy(kind)
    if policy == "always" or (policy == "auto" and flagged):
        return CheckpointRequest(kind=kind, flagged=flagged)
    return None


def _ask(ctx: ResearchContext, asked: CheckpointRequest | None, kind: GateKind, payload: Json, *, node: str,
         iteration: int, n: int = 0) -> Decision:
    flagged = list(asked["flagged"]) if asked else []
    cid = checkpoint_id(ctx.job_id, node, kind, n)
    answer = interrupt({"kind": kind, "checkpoint_id": cid, "payload": payload, "flagged": flagged})
    try:
        decision = GateDecision.model_validate(answer)
    except ValueError as exc:
        raise InvalidInput(f"a decision must be {{action, reason, edit, by}}: {exc}") from exc
    return Decision(kind=kind, checkpoint_id=cid, iteration=iteration, node=node, flagged=flagged,
                    subject=str(payload.get("title", "")), **decision.model_dump())  # type: ignore[typeddict-item]


def gate_idea(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Before implement: approve, reject (with a reason for later ideas) or edit the idea."""
    ctx, idea, expansion = runtime.context, dict(state["idea"] or {}), state["expansion"]
    payload = {"iteration": expansion["round"], "node": expansion["node"], "parent": expansion["parent"],
               "operator": expansion["operator"],
               **{k: idea.get(k) for k in (*_IDEA_FIELDS, "neighbours", "novelty")}}
    made = _ask(ctx, state.get("checkpoint"), "idea", payload, node=expansion["node"], iteration=expansion["round"])
    if made["action"] == "edit":
        idea.update({k: v for k, v in made["edit"].items() if k in _IDEA_FIELDS})
        idea["edited_by"] = made["by"]
    return {"gate": made, "decisions": [made], "idea": idea, "checkpoint": None}  # type: ignore[typeddict-item]


def gate_code(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Before execute (the action guard): approve, reject or edit files/params; an edit is what runs."""
    ctx, expansion, idea = runtime.context, state["expansion"], state.get("idea")
    assert state["candidate"] is not None
    candidate = Change(**state["candidate"])
    payload = {"iteration": expansion["round"], "node": expansion["node"], "parent": expansion["parent"],
               "title": idea["title"] if idea else "", "params": candidate["params"],
               "files": candidate["files"], "diff": candidate["diff"]}
    made = _ask(ctx, state.get("checkpoint"), "code", payload, node=expansion["node"], iteration=expansion["round"])
    if made["action"] == "edit":
        files = {**candidate["files"], **made["edit"].get("files", {})}
        params = made["edit"].get("params", candidate["params"])
        candidate = Change(files=files, params=params, diff=diff_of(ctx.task_dir, files, params),
                           explanation=candidate["explanation"], edited_by=made["by"])
        # A human's edit is refused like a model's when it touches a protected file.
        return {"gate": made, "decisions": [made], "candidate": candidate, "checkpoint": None,
                "refused": refusal(ctx.task, files)}
    return {"gate": made, "decisions": [made], "candidate": candidate, "checkpoint": None}


def gate_finding(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Before a verified finding is accepted: approve, reject, or edit its summary; shows the critique."""
    ctx, verdict = runtime.context, state["verdict"]
    assert verdict is not None and state["verification"] is not None
    node = tree.by_id(state["nodes"])[state["verification"]["node"]]
    payload = {"iteration": state["iteration"], "node": node["id"], "title": node["idea"]["title"],
               "verdict": dict(verdict), "pairs": verdict["pairs"], "baseline_pairs": verdict["baseline_pairs"],
               "params": node["params"], "diff": node["diff"], "critique": state.get("critique")}
    made = _ask(ctx, state.get("checkpoint"), "finding", payload, node=node["id"], iteration=state["iteration"])
    return {"gate": made, "decisions": [made], "checkpoint": None}
