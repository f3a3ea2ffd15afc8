"""``critique`` (strategy llm): a sceptical review of a verified finding, kept with it.

A critique that names a flaw flags the finding, so the ``auto`` policy shows it to a human. The
critique is optional: when the model's reply cannot be used after the retries, it is recorded as
"unavailable: <reason>" and the finding is flagged instead, so the job goes on.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents import tree
from agents.context import ResearchContext
from agents.errors import BudgetExhausted, LLMError
from agents.flags import critique_unavailable_flag, finding_flags, grader_flags
from agents.llm_steps import critique_finding, meter_for, spent
from agents.nodes.gates import request
from agents.state import Critique, ResearchState
from agents.verify import RULE


def critique(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Ask for the critique; the finding gate is needed when the policy or a flag says so.

    Without a model (strategy search) there is no critique and verify's gate request stands.
    """
    ctx, verdict, check = runtime.context, state["verdict"], state["verification"]
    assert verdict is not None and check is not None
    if ctx.strategy != "llm" or ctx.model is None:
        return {}
    nodes = tree.by_id(state["nodes"])
    node = nodes[check["node"]]
    flagged = finding_flags(verdict["baseline_gain"] or 0.0, float(state["baseline"]["value"])) + grader_flags(node)
    before = state.get("tokens", 0)
    meter = meter_for(ctx, before, state.get("cost_usd", 0.0), step="critique")
    try:
        review = critique_finding(ctx, meter, node, verdict, rule=RULE, parent=nodes.get(node["parent"] or ""))
    except BudgetExhausted as exc:
        return {"stop_reason": str(exc), "checkpoint": request(ctx, "finding", flagged),
                **spent(ctx, meter, "critique", before=before, cost_before=state.get("cost_usd", 0.0))}
    except LLMError as exc:  # optional: the finding stands on its evidence, and a human is asked to look
        review = Critique(soundness=f"unavailable: {exc}", confounds=[], ablation="", flaw="", flagged=True)
        flagged.append(critique_unavailable_flag(str(exc)))
    else:
        if review["flagged"]:
            flagged.append(f"the critique names a flaw: {review['flaw']}")
    ctx.journal.emit(ctx.job_id, "critique", {"node": node["id"], **review})
    return {"critique": review, "checkpoint": request(ctx, "finding", flagged),
            **spent(ctx, meter, "critique", before=before, cost_before=state.get("cost_usd", 0.0))}
