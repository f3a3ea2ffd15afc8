"""``implement``: turn the branch's idea into a change of its parent node's workspace.

The change starts from the *parent's* files and params, so improvements compound: ``improve``
and ``draft`` (strategy llm) ask the model with the parent's code; ``debug`` asks it to repair
a failed node from that node's files and traceback; ``ablate`` reverts one part of the
incumbent's change; strategy search writes the sampler's params over the parent's. A draft
of a task that starts from data writes the whole solution (:func:`agents.drafting.write_draft`).
The change lives in the state and ``execute`` materialises it, so a gate's edit is exactly
what runs.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents import tree
from agents.briefing import brief
from agents.context import ResearchContext
from agents.drafting import from_data, write_draft
from agents.errors import BudgetExhausted, LLMReplyInvalid
from agents.experiments import diff_of, source_files
from agents.flags import code_flags
from agents.llm_steps import meter_for, repair_code, spent, used_tokens, write_code
from agents.nodes.gates import request
from agents.nodes.review import unusable_reply
from agents.protected import refusal
from agents.state import BranchState, Change, Json


def implement(state: BranchState, runtime: Runtime[ResearchContext]) -> BranchState:
    """Make the candidate change (files and params from the root) of the branch's node."""
    ctx, expansion, idea = runtime.context, state["expansion"], state["idea"]
    assert idea is not None
    nodes = tree.by_id(state["tree"])
    parent = nodes.get(expansion["parent"])
    files: dict[str, str] = dict(parent["files"]) if parent else {}
    params: Json = {**(parent["params"] if parent else {}), **(idea.get("params") or {})}
    explanation = "params.json only"
    update: BranchState = {}
    if expansion["operator"] == "ablate":
        assert parent is not None
        parts = tree.ablate_parts(nodes.get(parent["parent"] or ""), parent)
        if parts:
            files, params = dict(parts[0][1]["files"]), dict(parts[0][1]["params"])
        explanation = parts[0][0] if parts else "nothing to revert"
    elif ctx.strategy == "llm":
        drafting = expansion["operator"] == "draft" and from_data(state["baseline"])  # a whole solution
        step = "debug" if expansion["operator"] == "debug" else "draft" if drafting else "implement"
        before = used_tokens(state)
        meter = meter_for(ctx, before, step=step)
        originals = source_files(ctx.task_dir)
        briefing = brief(ctx, step=step, node=parent, nodes=state["tree"], incumbent=state["incumbent"],
                         rejections=state.get("prior_rejections", []), decisions=state.get("prior_decisions", []),
                         task_files=originals)
        try:
            if expansion["operator"] == "debug":
                assert parent is not None
                max_depth = ctx.task.search.max_debug_depth
                files, params, explanation = repair_code(
                    ctx, meter, parent, briefing, originals=originals,
                    max_depth=max_depth if max_depth is not None else ctx.task.budget.debug_attempts)
            elif drafting:
                files, params, explanation = write_draft(ctx, meter, idea, briefing, originals=originals,
                                                         missing=state["baseline"]["missing"])
            else:
                files, params, explanation = write_code(ctx, meter, idea, briefing, parent=expansion["parent"],
                                                        originals=originals, changed=files, params=params)
        except BudgetExhausted as exc:
            return {"stop_reason": str(exc), **spent(ctx, meter, "implement", before=before)}
        except LLMReplyInvalid as exc:  # no usable change: this branch ends, the job goes on
            return unusable_reply(state, ctx, "code change", str(exc), spent(ctx, meter, step, before=before))
        update = {**spent(ctx, meter, "implement", before=before)}
    candidate = Change(params=params, files=files, explanation=explanation, diff=diff_of(ctx.task_dir, files, params))
    if (refused := refusal(ctx.task, files)) is not None:  # before any gate or run: it never executes
        return {**update, "candidate": candidate, "gate": None, "checkpoint": None, "refused": refused}
    changed = {rel: text for rel, text in files.items() if not parent or parent["files"].get(rel) != text}
    return {**update, "candidate": candidate, "gate": None,
            "checkpoint": request(ctx, "code", code_flags(changed))}
