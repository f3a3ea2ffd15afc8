"""``critique`` (strategy llm): a sceptical review of a verified finding, kept with it.

A critique that names a flaw flags the finding, so the ``auto`` policy shows it to a human.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents import tree
from agents.context import ResearchContext
from agents.errors import BudgetExhausted
from agents.flags import finding_flags, grader_flags
from agents.llm_steps import critique_finding, meter_for, spent
from agents.nodes.gates import request
from agents.state import ResearchState
from agents.verify import RULE


def critique(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Ask for the critique; the finding gate is needed when the policy or a flag says so.

    Without a model (strategy search) there is no critique and verify's gate request stands.
    """
    ctx, verdict, check = runtime.context, state["verdict"], state["verification"]
    assert verdict is not None and check is not None
    if ctx.strategy != "llm" or ctx.model is None:
        return {}
    node = tree.by_id(state["nodes"])[check["node"]]
    flagged = finding_flags(verdict["baseline_gain"] or 0.0, float(state["baseline"]["value"])) + grader_flags(node)
    before = state.get("tokens", 0)
    meter = meter_for(ctx, before, state.get("cost_usd", 0.0))
    try:
        review = critique_finding(ctx, meter, node, verdict, rule=RULE)
    except BudgetExhausted as exc:
        return {"stop_reason": str(exc), "checkpoint": request(ctx, "finding", flagged),
                **spent(ctx, meter, "critique", before=before, cost_before=state.get("cost_usd", 0.0))}
    if review["flagged"]:
        flagged.append(f"the critique names a flaw: {review['flaw']}")
    ctx.journal.emit(ctx.job_id, "critique", {"node": node["id"], **review})
    return {"critique": review, "checkpoint": request(ctx, "finding", flagged),
            **spent(ctx, meter, "critique", before=before, cost_before=state.get("cost_usd", 0.0))}
