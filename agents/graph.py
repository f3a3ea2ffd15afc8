"""The research graph: a tree of solutions grown in parallel rounds, all of the control flow here.

```
START → baseline → select ─┬─ Send × parallel ─→ branch ─┐
          ↑                 │                             ↓
          │                 └──────────────────────→ join ─┬→ verify ─┬→ critique ─┬→ gate_finding → decide
          │                                                │          └────────────┴───────────────→ decide
          └───────────────────────── decide ←──────────────┘      decide → report ─┬→ END
                                                                                 └→ paper ⇄ gate_paper → END  (--paper)

branch:  START → ideate → gate_idea? → implement → gate_code? → execute → review → END
                              └─ reject / protected file → abandon → END ┘
```
A *branch* is a compiled subgraph run once per expansion with LangGraph ``Send``; the
branches of a round run concurrently and share the sandbox pool, and ``join`` runs when all of
them have ended. Each branch has its own checkpoints, so a crash mid-round re-runs only the
branches (and, within them, only the steps) that had not finished, and gates in parallel
branches wait at the same time, each its own interrupt. A gate is passed through only when
the step before it asked for a human (its policy and flags, see agents/nodes/gates.py).
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from agents import nodes
from agents.context import ResearchContext
from agents.state import BranchOutput, BranchState, ResearchState


def after_ideate(state: BranchState) -> str:
    """An idea goes to its gate when a human must see it, else to implement; a spent budget ends the branch."""
    if state.get("stop_reason") or state.get("idea") is None:
        return END
    return "gate_idea" if state.get("checkpoint") else "implement"


def after_gate(state: BranchState) -> str:
    """A rejected idea or change ends the branch as a rejected node (its reason reaches later ideas)."""
    gate = state.get("gate")
    if (gate is not None and gate["action"] == "reject") or state.get("refused"):
        return "abandon"
    return "implement" if gate is not None and gate["kind"] == "idea" else "execute"


def after_implement(state: BranchState) -> str:
    """The code gate when a human must see the change, else execute; the budget ran out, or the
    model gave no usable change (the branch's failed node is already made), ends the branch.

    A change that touches a protected file ends the branch as a rejected node before any gate.
    """
    if state.get("stop_reason") or state.get("candidate") is None:
        return END
    if state.get("refused"):
        return "abandon"
    return "gate_code" if state.get("checkpoint") else "execute"


def after_join(state: ResearchState) -> str:
    """A candidate that beat the incumbent on seed 0 is verified; otherwise the round is concluded."""
    return "verify" if state.get("verification") else "decide"


def after_verify(state: ResearchState) -> str:
    """A verified finding is critiqued (a no-op without a model); anything else is concluded."""
    verdict = state.get("verdict")
    return "critique" if verdict is not None and verdict["verified"] else "decide"


def after_critique(state: ResearchState) -> str:
    """The finding gate when the policy or the critique's flag asks for a human."""
    return "gate_finding" if state.get("checkpoint") else "decide"


def after_decide(state: ResearchState) -> str:
    """Another round, or the report."""
    return "report" if state.get("stop_reason") else "select"


def after_report(state: ResearchState) -> str:
    """The write-up, when the job asked for one."""
    return "paper" if state.get("paper") else END


def after_paper(state: ResearchState) -> str:
    """The paper gate when a human must see the paper, else the end."""
    return "gate_paper" if state.get("checkpoint") else END


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None, *, debug_attempts: int = 3) -> Any:
    """The research graph on ``checkpointer``.

    ``debug_attempts`` is kept for callers; the debug depth is now a selection parameter
    (``search.max_debug_depth``, default ``budget.debug_attempts``). Compiling takes ~20 ms and
    every resume needs a graph, so it is compiled once and each caller gets a copy bound to its
    own checkpointer (a copy costs ~0.1 ms).
    """
    del debug_attempts
    return _compiled().copy(update={"checkpointer": checkpointer})


def build_branch() -> Any:
    """One expansion of the tree: ideate → implement → execute → review, with gates and a reject exit."""
    branch = StateGraph(BranchState, context_schema=ResearchContext, output_schema=BranchOutput)
    for name in nodes.BRANCH_NODES:
        branch.add_node(name, getattr(nodes, name))
    branch.add_edge(START, "ideate")
    branch.add_conditional_edges("ideate", after_ideate, ["gate_idea", "implement", END])
    branch.add_conditional_edges("gate_idea", after_gate, ["implement", "abandon"])
    branch.add_conditional_edges("implement", after_implement, ["gate_code", "execute", "abandon", END])
    branch.add_conditional_edges("gate_code", after_gate, ["execute", "abandon"])
    branch.add_edge("execute", "review")
    branch.add_edge("review", END)
    branch.add_edge("abandon", END)
    return branch.compile()


@functools.cache
def _compiled() -> Any:
    graph = StateGraph(ResearchState, context_schema=ResearchContext)
    for name in nodes.JOB_NODES:
        graph.add_node(name, getattr(nodes, name))
    graph.add_node("branch", build_branch())
    graph.add_edge(START, "baseline")
    graph.add_edge("baseline", "select")
    graph.add_conditional_edges("select", nodes.fan_out, ["branch"])
    graph.add_edge("branch", "join")
    graph.add_conditional_edges("join", after_join, ["verify", "decide"])
    graph.add_conditional_edges("verify", after_verify, ["critique", "decide"])
    graph.add_conditional_edges("critique", after_critique, ["gate_finding", "decide"])
    graph.add_edge("gate_finding", "decide")
    graph.add_conditional_edges("decide", after_decide, ["select", "report"])
    graph.add_conditional_edges("report", after_report, ["paper", END])
    graph.add_conditional_edges("paper", after_paper, ["gate_paper", END])
    graph.add_edge("gate_paper", "paper")
    return graph.compile()
