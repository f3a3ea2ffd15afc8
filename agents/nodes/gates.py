"""The three human gates. A gate node runs only when a human must be asked, and only interrupts.

The node before a gate (ideate, implement/debug, verify) decides, from the gate's policy and
:mod:`agents.flags`, whether a human is needed and leaves a ``checkpoint`` request
``{"kind", "flagged"}`` in the state; the router sends the job through the gate only then.
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

from agents.context import GateKind, ResearchContext
from agents.errors import InvalidInput
from agents.experiments import diff_of
from agents.state import Json, ResearchState

_IDEA_FIELDS = ("title", "hypothesis", "plan", "params")


class GateDecision(BaseModel):
    """A resume value: what the human decided at a checkpoint."""

    action: Literal["approve", "reject", "edit"]
    reason: str = ""
    edit: dict[str, Any] = Field(default_factory=dict)
    by: str = "human"
    at: str | None = None


def checkpoint_id(job_id: str, iteration: int, kind: GateKind, n: int = 0) -> str:
    """The deterministic id of a checkpoint (the same when a node re-runs after a crash)."""
    return f"{job_id}-{iteration}-{kind}-{n}"


def request(ctx: ResearchContext, kind: GateKind, flagged: list[str]) -> Json | None:
    """The checkpoint request the gate's policy calls for (None: no human needed)."""
    policy = ctx.policy(kind)
    if policy == "always" or (policy == "auto" and flagged):
        return {"kind": kind, "flagged": flagged}
    return None


def _ask(ctx: ResearchContext, state: ResearchState, kind: GateKind, payload: Json, n: int = 0) -> Json:
    flagged = list((state.get("checkpoint") or {}).get("flagged", []))
    cid = checkpoint_id(ctx.job_id, state["iteration"], kind, n)
    answer = interrupt({"kind": kind, "checkpoint_id": cid, "payload": payload, "flagged": flagged})
    try:
        decision = GateDecision.model_validate(answer)
    except ValueError as exc:
        raise InvalidInput(f"a decision must be {{action, reason, edit, by}}: {exc}") from exc
    return {"kind": kind, "checkpoint_id": cid, "iteration": state["iteration"], "flagged": flagged,
            "subject": str(payload.get("title", "")), **decision.model_dump()}


def gate_idea(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Before implement: approve, reject (with a reason for later ideas) or edit the idea."""
    ctx, idea = runtime.context, dict(state["idea"] or {})
    payload = {"iteration": state["iteration"], **{k: idea.get(k) for k in (*_IDEA_FIELDS, "neighbours", "novelty")}}
    made = _ask(ctx, state, "idea", payload)
    if made["action"] == "edit":
        idea.update({k: v for k, v in made["edit"].items() if k in _IDEA_FIELDS})
        idea["edited_by"] = made["by"]
    return {"gate": made, "decisions": [made], "idea": idea, "checkpoint": None}


def gate_code(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Before execute (the action guard): approve, reject or edit files/params; an edit is what runs."""
    ctx, candidate = runtime.context, dict(state["candidate"] or {})
    payload = {"iteration": state["iteration"], "title": (state["idea"] or {}).get("title", ""),
               "attempt": candidate["attempt"], "params": candidate["params"], "files": candidate["files"],
               "diff": candidate["diff"]}
    made = _ask(ctx, state, "code", payload, n=int(candidate["attempt"]))
    if made["action"] == "edit":
        files = {**candidate["files"], **made["edit"].get("files", {})}
        params = made["edit"].get("params", candidate["params"])
        candidate.update(files=files, params=params, diff=diff_of(ctx.task_dir, files, params),
                         edited_by=made["by"])
    return {"gate": made, "decisions": [made], "candidate": candidate, "checkpoint": None}


def gate_finding(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Before a verified finding is accepted: approve, reject, or edit its summary."""
    ctx = runtime.context
    verdict = (state["verification"] or {}).get("verdict") or {}
    candidate, idea = state["candidate"] or {}, state["idea"] or {}
    payload = {"iteration": state["iteration"], "title": idea.get("title", ""), "verdict": verdict,
               "pairs": (state["verification"] or {}).get("pairs", {}), "params": candidate.get("params"),
               "diff": candidate.get("diff", "")}
    made = _ask(ctx, state, "finding", payload)
    return {"gate": made, "decisions": [made], "checkpoint": None}
