"""``review`` (a branch's last step): what the run teaches, and the branch's node for the tree."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents import duplicates, tree
from agents.briefing import brief, diff_from_parent
from agents.context import ResearchContext
from agents.errors import BudgetExhausted, LLMError
from agents.experiments import output_tail
from agents.llm_steps import Spending, meter_for, review_outcome, spent, used_tokens
from agents.protected import protected_files
from agents.state import BranchState, Idea, Node, Rejection, Run


def branch_node(state: BranchState, *, status: str, run: Run | None = None, summary: str = "",
                lesson: str = "", error: str | None = None) -> Node:
    """The tree node a branch made, from its expansion, idea, change and run."""
    expansion, candidate = state["expansion"], state.get("candidate")
    parent = tree.by_id(state["tree"]).get(expansion["parent"])
    idea = state.get("idea") or Idea(title="(no idea)", hypothesis="", plan="", params={}, source="")
    depth = (parent["debug_depth"] + 1 if parent else 1) if expansion["operator"] == "debug" else 0
    node = Node(
        id=expansion["node"], parent=expansion["parent"], operator=expansion["operator"], round=expansion["round"],
        debug_depth=depth, idea=idea, files=dict(candidate["files"]) if candidate else {},
        params=dict(candidate["params"]) if candidate else {}, diff=candidate["diff"] if candidate else "",
        explanation=candidate["explanation"] if candidate else "",
        status="rejected" if status == "rejected" else "succeeded" if run and run["value"] is not None else "failed",
        value=run["value"] if run else None, metrics=dict(run["metrics"]) if run else {},
        error=run["error"] if run else error, output_tail=output_tail(run) if run else "",
        experiment_id=run["experiment_id"] if run else None, fate="rejected" if status == "rejected" else "proposed",
        summary=summary, lesson=lesson, verdict=None, critique=None,
    )
    for key in ("self_reported", "grader_gap"):
        if run is not None and key in run:
            node[key] = run[key]
    if refused := state.get("refused"):
        node["refused"] = refused
        node["error"] = refused
    return node


def unusable_reply(state: BranchState, ctx: ResearchContext, what: str, reason: str,
                   spending: Spending) -> BranchState:
    """The branch's node when the model gave no usable ``what`` (an idea, a code change) after its
    retries: failed, with the reason, and nothing run. The branch ends; the job goes on."""
    node = branch_node(state, status="ran", error=f"no usable {what}: {reason}")
    ctx.journal.emit(ctx.job_id, "tree", {"node": node["id"], "parent": node["parent"], "operator": node["operator"],
                                          "status": node["status"], "value": None, "error": node["error"]})
    return {**spending, "idea": state.get("idea"), "candidate": None, "gate": None, "checkpoint": None,
            "nodes": [node], "notes": [f"{node['id']}: the model gave no usable {what}, so the branch ended ({reason})"]}


def review(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Read the outcome (with a model: a summary and a lesson for later prompts); emit the node."""
    ctx, run, idea = runtime.context, state["run"], state["idea"]
    assert run is not None and idea is not None
    update: BranchState = {}
    summary = lesson = ""
    if ctx.strategy == "llm" and ctx.model is not None and not run.get("duplicate_of"):  # a duplicate teaches nothing new
        before = used_tokens(state)
        meter = meter_for(ctx, before, step="review")
        nodes = tree.by_id(state["tree"])
        best, parent = nodes.get(state["incumbent"]), nodes.get(state["expansion"]["parent"])
        draft = branch_node(state, status="ran", run=run)
        briefing = brief(ctx, step="review", node=draft, nodes=state["tree"], incumbent=state["incumbent"],
                         rejections=state.get("prior_rejections", []), decisions=state.get("prior_decisions", []),
                         with_files=False)
        diff = diff_from_parent(ctx, parent, draft["files"], draft["params"])
        edits = [d for d in state.get("decisions", []) if d["action"] == "edit"]
        try:
            reading = review_outcome(ctx, meter, idea, run, briefing, baseline=state["baseline"].get("value"),
                                     best=best["value"] if best else None, diff=diff, edits=edits)
            summary, lesson = reading.summary, reading.lesson
        except BudgetExhausted as exc:
            update["stop_reason"] = str(exc)
        except LLMError as exc:  # optional: the node keeps its result, without the model's reading
            summary = f"unavailable: {exc}"
            update["notes"] = [f"{draft['id']}: the review is unavailable ({exc})"]
            ctx.journal.emit(ctx.job_id, "review", {"node": draft["id"], "unavailable": str(exc)})
        update.update(spent(ctx, meter, "review", before=before))
    node = duplicates.labelled(branch_node(state, status="ran", run=run, summary=summary, lesson=lesson), run)
    ctx.journal.emit(ctx.job_id, "tree", {"node": node["id"], "parent": node["parent"], "operator": node["operator"],
                                          "status": node["status"], "value": node["value"]})
    return {**update, "nodes": [node]}


def abandon(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """A branch whose idea or code a human rejected, or whose change touched a protected file:
    a rejected node, and the reason for later ideas."""
    gate, idea, expansion = state.get("gate"), dict(state.get("idea") or {}), state["expansion"]
    node = branch_node(state, status="rejected")
    update: BranchState = {"nodes": [node]}
    subject = {k: idea.get(k) for k in ("title", "hypothesis", "plan", "params")}
    if refused := state.get("refused"):
        update["rejections"] = [Rejection(kind="code", idea=subject, iteration=expansion["round"],
                                          reason=f"{refused}: {', '.join(protected_files(runtime.context.task))} "
                                                 "may not be changed")]
        update["notes"] = [f"round {expansion['round']}, node {node['id']}: refused a change ({refused})"]
    elif gate is not None and gate["kind"] in ("idea", "code"):
        update["rejections"] = [Rejection(kind=gate["kind"], idea=subject, reason=gate["reason"],
                                          iteration=expansion["round"])]
    runtime.context.journal.emit(runtime.context.job_id, "tree", {"node": node["id"], "parent": node["parent"],
                                                                  "operator": node["operator"], "status": "rejected",
                                                                  "refused": node.get("refused")})
    return update
