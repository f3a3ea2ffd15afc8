"""The human gates of the tree (the paper's is in agents/nodes/paper.py). A gate node runs only when a human must be asked, and only interrupts.

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

from collections.abc import Mapping

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents import tree
from agents.briefing import diff_from_parent
from agents.checkpoints import (
    CodePayload,
    FindingPayload,
    IdeaPayload,
    NodeMetrics,
    Payload,
    branch_label,
    parse_decided,
)
from agents.context import ResearchContext
from agents.experiments import diff_of
from agents.protected import refusal
from agents.state import (
    BranchState,
    Change,
    CheckpointRequest,
    Decision,
    Expansion,
    GateKind,
    Node,
    ResearchState,
)

_IDEA_FIELDS = ("title", "hypothesis", "plan", "params")


def checkpoint_id(job_id: str, node: str, kind: GateKind, n: int = 0) -> str:
    """The deterministic id of a checkpoint (the same when a node re-runs after a crash); a
    job has one paper, so its checkpoints are ``{job}-paper-{n}``."""
    return f"{job_id}-paper-{n}" if kind == "paper" else f"{job_id}-{node}-{kind}-{n}"


def request(ctx: ResearchContext, kind: GateKind, flagged: list[str]) -> CheckpointRequest | None:
    """The checkpoint request the gate's policy calls for (None: no human needed)."""
    policy = ctx.policy(kind)
    if policy == "always" or (policy == "auto" and flagged):
        return CheckpointRequest(kind=kind, flagged=flagged)
    return None


def ask_human(ctx: ResearchContext, asked: CheckpointRequest | None, kind: GateKind, payload: Payload, *, node: str,
         iteration: int, n: int = 0) -> Decision:
    flagged = list(asked["flagged"]) if asked else []
    cid = checkpoint_id(ctx.job_id, node, kind, n)
    answer = interrupt({"kind": kind, "checkpoint_id": cid, "payload": payload.model_dump(mode="json"),
                        "flagged": flagged})
    # The edit's shape was checked when the decision was recorded; one recorded by an older version
    # may carry keys that are no longer used, which the gates below ignore.
    decision = parse_decided(answer)
    return Decision(kind=kind, checkpoint_id=cid, iteration=iteration, node=node, flagged=flagged,
                    subject=payload.title, action=decision.action, reason=decision.reason,
                    edit=dict(decision.edit or {}), by=decision.by, at=decision.at)


def _label(expansion: Expansion) -> str:
    return branch_label(round_=expansion["round"], slot=expansion["slot"], node=expansion["node"],
                        operator=expansion["operator"], parent=expansion["parent"])


def _metrics(node: Node | None) -> NodeMetrics | None:
    """A node's result as a reviewer compares it (None: no such node, or it has not run)."""
    if node is None or (node["value"] is None and not node["metrics"]):
        return None
    return NodeMetrics(node=node["id"], title=node["idea"]["title"], value=node["value"], metrics=node["metrics"])


def _idea_text(idea: Mapping[str, object] | None, key: str) -> str:
    return str((idea or {}).get(key) or "")


def gate_idea(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Before implement: approve, reject (with a reason for later ideas) or edit the idea."""
    ctx, idea, expansion = runtime.context, dict(state["idea"] or {}), state["expansion"]
    payload = IdeaPayload.model_validate({  # the idea's own fields, and where in the tree it would grow
        **{k: v for k, v in idea.items() if k in (*_IDEA_FIELDS, "neighbours", "novelty") and v is not None},
        "iteration": expansion["round"], "node": expansion["node"], "branch": _label(expansion),
        "parent": expansion["parent"], "operator": expansion["operator"]})
    made = ask_human(ctx, state.get("checkpoint"), "idea", payload, node=expansion["node"], iteration=expansion["round"])
    if made["action"] == "edit":
        idea.update({k: v for k, v in made["edit"].items() if k in _IDEA_FIELDS})
        idea["edited_by"] = made["by"]
    return {"gate": made, "decisions": [made], "idea": idea, "checkpoint": None}  # type: ignore[typeddict-item]


def gate_code(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Before execute (the action guard): approve, reject or edit files/params; an edit is what runs.

    The reviewer sees the idea, the model's explanation, the diff from the parent (what this
    branch changes) beside the diff from the root, and the parent's and incumbent's results.
    """
    ctx, expansion, idea = runtime.context, state["expansion"], state.get("idea")
    assert state["candidate"] is not None
    candidate = Change(**state["candidate"])
    nodes = tree.by_id(state.get("tree", []))
    parent = nodes.get(expansion["parent"])
    payload = CodePayload(
        iteration=expansion["round"], node=expansion["node"], branch=_label(expansion), parent=expansion["parent"],
        operator=expansion["operator"], title=_idea_text(idea, "title"), hypothesis=_idea_text(idea, "hypothesis"),
        plan=_idea_text(idea, "plan"), explanation=candidate["explanation"], params=candidate["params"],
        files=candidate["files"], diff=candidate["diff"],
        diff_from_parent=diff_from_parent(ctx, parent, candidate["files"], candidate["params"]),
        parent_metrics=_metrics(parent), incumbent_metrics=_metrics(nodes.get(state.get("incumbent", ""))))
    made = ask_human(ctx, state.get("checkpoint"), "code", payload, node=expansion["node"], iteration=expansion["round"])
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
    nodes = tree.by_id(state["nodes"])
    node = nodes[state["verification"]["node"]]
    critique = state.get("critique")
    payload = FindingPayload(
        iteration=state["iteration"], node=node["id"], title=node["idea"]["title"],
        branch=branch_label(round_=node["round"], node=node["id"], operator=node["operator"], parent=node["parent"]),
        verdict=dict(verdict), pairs=verdict["pairs"], baseline_pairs=verdict["baseline_pairs"],
        params=node["params"], diff=node["diff"], critique=dict(critique) if critique else None,
        metrics=_metrics(node), incumbent_metrics=_metrics(nodes.get(verdict["against"])))
    made = ask_human(ctx, state.get("checkpoint"), "finding", payload, node=node["id"], iteration=state["iteration"])
    return {"gate": made, "decisions": [made], "checkpoint": None}
