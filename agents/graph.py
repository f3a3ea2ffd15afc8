"""The research graph: nodes wired by small named routers, all of the control flow in one place.

```
START → baseline → ideate → gate_idea → implement → gate_code → execute ─┬→ review ─┬→ verify ⟲ ─┬→ gate_finding → decide
                                            ↑                            │          └→ decide     └→ decide          │
                                            └──────── debug ←── failed ──┘                                  ideate ←─┴→ report → END
```
A gate is passed through only when the node before it asked for a human (its policy and
flags, see agents/nodes/gates.py); otherwise the router skips it. A budget that runs out
inside ideate, implement or debug (LLM tokens) goes straight to report.
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from agents import nodes
from agents.context import ResearchContext
from agents.state import ResearchState


def after_ideate(state: ResearchState) -> str:
    """An idea goes to its gate when a human must see it, else to implement; a spent budget ends the job."""
    if state.get("stop_reason"):
        return "report"
    return "gate_idea" if state.get("checkpoint") else "implement"


def after_gate_idea(state: ResearchState) -> str:
    """A rejected idea ends the iteration (its reason reaches the next ideation)."""
    return "decide" if (state.get("gate") or {}).get("action") == "reject" else "implement"


def after_change(state: ResearchState) -> str:
    """After implement or debug: the code gate when a human must see it, else execute; or the budget ran out."""
    if state.get("stop_reason"):
        return "report"
    return "gate_code" if state.get("checkpoint") else "execute"


def after_gate_code(state: ResearchState) -> str:
    """Rejected code does not run."""
    return "decide" if (state.get("gate") or {}).get("action") == "reject" else "execute"


def after_execute(state: ResearchState, debug_attempts: int) -> str:
    """A failed LLM-written change is debugged (bounded); anything else is reviewed."""
    run, candidate = state.get("last_run") or {}, state.get("candidate") or {}
    failed = run.get("value") is None
    if failed and candidate.get("files") and int(candidate.get("attempt", 0)) < debug_attempts:
        return "debug"
    return "review"


def after_review(state: ResearchState) -> str:
    """A run that beats the best so far is verified; everything else is concluded."""
    if state.get("stop_reason"):
        return "decide"
    return "verify" if state.get("verification") else "decide"


def after_verify(state: ResearchState) -> str:
    """Loop until every paired replicate ran; a verified finding goes to its gate."""
    verdict = (state.get("verification") or {}).get("verdict")
    if verdict is None:
        return "verify"
    return "gate_finding" if verdict.get("verified") and state.get("checkpoint") else "decide"


def after_decide(state: ResearchState) -> str:
    """Another iteration, or the report."""
    return "report" if state.get("stop_reason") else "ideate"


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None, *, debug_attempts: int = 3) -> Any:
    """The research graph on ``checkpointer``; ``debug_attempts`` bounds the debug loop per iteration.

    Compiling takes ~20 ms and every resume needs a graph, so it is compiled once per bound and
    each caller gets a copy bound to its own checkpointer (a copy costs ~0.1 ms).
    """
    return _compiled(debug_attempts).copy(update={"checkpointer": checkpointer})


@functools.lru_cache(maxsize=16)
def _compiled(debug_attempts: int) -> Any:
    graph = StateGraph(ResearchState, context_schema=ResearchContext)
    for name in nodes.__all__:
        graph.add_node(name, getattr(nodes, name))
    graph.add_edge(START, "baseline")
    graph.add_edge("baseline", "ideate")
    graph.add_conditional_edges("ideate", after_ideate, ["gate_idea", "implement", "report"])
    graph.add_conditional_edges("gate_idea", after_gate_idea, ["implement", "decide"])
    graph.add_conditional_edges("implement", after_change, ["gate_code", "execute", "report"])
    graph.add_conditional_edges("debug", after_change, ["gate_code", "execute", "report"])
    graph.add_conditional_edges("gate_code", after_gate_code, ["execute", "decide"])
    graph.add_conditional_edges(
        "execute", lambda s: after_execute(s, debug_attempts), ["debug", "review"]
    )
    graph.add_conditional_edges("review", after_review, ["verify", "decide"])
    graph.add_conditional_edges("verify", after_verify, ["verify", "gate_finding", "decide"])
    graph.add_edge("gate_finding", "decide")
    graph.add_conditional_edges("decide", after_decide, ["ideate", "report"])
    graph.add_edge("report", END)
    return graph.compile()
