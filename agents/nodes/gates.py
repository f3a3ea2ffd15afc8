"""The three human gates. Each only decides whether to ask and calls ``interrupt()``.

LangGraph re-runs a node from its start on resume, so nothing with a side effect sits here:
a gate reads the state, maybe interrupts, and returns the decision (and, for an edit, the
edited idea or change) as a state update. Policy ``never`` approves, ``always`` asks,
``auto`` asks only when :mod:`agents.flags` finds a reason.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, Field

from agents.context import GateKind, ResearchContext
from agents.experiments import diff_of
from agents.flags import code_flags, finding_flags, idea_flags
from agents.state import Json, ResearchState
from sandbox.errors import InvalidInput

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


def _ask(ctx: ResearchContext, state: ResearchState, kind: GateKind, payload: Json, flagged: list[str],
         n: int = 0) -> tuple[Json, list[Json]]:
    policy = ctx.policy(kind)
    if policy == "never" or (policy == "auto" and not flagged):
        return {"kind": kind, "action": "approve", "reason": "", "edit": {}, "by": f"policy:{policy}"}, []
    cid = checkpoint_id(ctx.job_id, state["iteration"], kind, n)
    answer = interrupt({"kind": kind, "checkpoint_id": cid, "payload": payload, "flagged": flagged})
    try:
        decision = GateDecision.model_validate(answer)
    except ValueError as exc:
        raise InvalidInput(f"a decision must be {{action, reason, edit, by}}: {exc}") from exc
    made = {"kind": kind, "checkpoint_id": cid, "iteration": state["iteration"], "flagged": flagged,
            "subject": str(payload.get("title", "")), **decision.model_dump()}
    return made, [made]


def gate_idea(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Before implement: approve, reject (with a reason for later ideas) or edit the idea."""
    ctx, idea = runtime.context, dict(state["idea"] or {})
    flagged = idea_flags(idea, state.get("rejections", []), idea.get("neighbours", []))
    payload = {"iteration": state["iteration"], **{k: idea.get(k) for k in (*_IDEA_FIELDS, "neighbours", "novelty")}}
    made, decisions = _ask(ctx, state, "idea", payload, flagged)
    if made["action"] == "edit":
        idea.update({k: v for k, v in made["edit"].items() if k in _IDEA_FIELDS})
        idea["edited_by"] = made["by"]
    return {"gate": made, "decisions": decisions, "idea": idea}


def gate_code(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Before execute (the action guard): approve, reject or edit files/params; an edit is what runs."""
    ctx, candidate = runtime.context, dict(state["candidate"] or {})
    flagged = code_flags(candidate["files"])
    payload = {"iteration": state["iteration"], "title": (state["idea"] or {}).get("title", ""),
               "attempt": candidate["attempt"], "params": candidate["params"], "files": candidate["files"],
               "diff": candidate["diff"]}
    made, decisions = _ask(ctx, state, "code", payload, flagged, n=int(candidate["attempt"]))
    if made["action"] == "edit":
        files = {**candidate["files"], **made["edit"].get("files", {})}
        params = made["edit"].get("params", candidate["params"])
        candidate.update(files=files, params=params, diff=diff_of(ctx.task_dir, files, params),
                         edited_by=made["by"])
    return {"gate": made, "decisions": decisions, "candidate": candidate}


def gate_finding(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Before a verified finding is accepted: approve, reject, or edit its summary."""
    ctx = runtime.context
    verdict = (state["verification"] or {}).get("verdict") or {}
    candidate, idea = state["candidate"] or {}, state["idea"] or {}
    flagged = finding_flags(float(verdict.get("mean_gain", 0.0)), float(state["baseline"]["value"]))
    payload = {"iteration": state["iteration"], "title": idea.get("title", ""), "verdict": verdict,
               "pairs": (state["verification"] or {}).get("pairs", {}), "params": candidate.get("params"),
               "diff": candidate.get("diff", "")}
    made, decisions = _ask(ctx, state, "finding", payload, flagged)
    return {"gate": made, "decisions": decisions}
