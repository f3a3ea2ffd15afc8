"""``implement`` turns the idea into a change of the workspace; ``debug`` repairs a failed run.

Both are pure with respect to the workspace: the change (changed files and params) lives in
the state, and ``execute`` materialises it, so a gate's edit is exactly what runs.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.context import ResearchContext
from agents.errors import BudgetExhausted
from agents.experiments import diff_of, source_files
from agents.flags import code_flags
from agents.llm_steps import meter_for, repair_code, spent, write_code
from agents.nodes.gates import request
from agents.state import ResearchState


def implement(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Search: write the idea's params. LLM: ask for the code change the idea needs."""
    ctx = runtime.context
    idea = state["idea"] or {}
    params = dict(idea.get("params") or {})
    if ctx.strategy == "search":
        candidate = {"params": params, "files": {}, "attempt": 0, "explanation": "params.json only"}
        return {"candidate": {**candidate, "diff": diff_of(ctx.task_dir, {}, params)}, "gate": None,
                "checkpoint": request(ctx, "code", [])}
    meter = meter_for(ctx, state)
    try:
        files, params, explanation = write_code(ctx, meter, idea, source_files(ctx.task_dir))
    except BudgetExhausted as exc:
        return {"stop_reason": str(exc), **spent(ctx, meter, "implement")}
    candidate = {"params": params, "files": files, "attempt": 0, "explanation": explanation,
                 "diff": diff_of(ctx.task_dir, files, params)}
    return {"candidate": candidate, "gate": None, "checkpoint": request(ctx, "code", code_flags(files)),
            **spent(ctx, meter, "implement")}


def debug(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Traceback-guided repair: the failure, the source lines it points at, the current files."""
    ctx = runtime.context
    candidate, run = state["candidate"] or {}, state["last_run"] or {}
    meter = meter_for(ctx, state)
    try:
        files, params, explanation = repair_code(ctx, meter, state["idea"] or {}, candidate, run,
                                                 source_files(ctx.task_dir))
    except BudgetExhausted as exc:
        return {"stop_reason": str(exc), **spent(ctx, meter, "debug")}
    repaired = {"params": params, "files": files, "attempt": int(candidate["attempt"]) + 1,
                "explanation": explanation, "diff": diff_of(ctx.task_dir, files, params)}
    return {"candidate": repaired, "gate": None, "checkpoint": request(ctx, "code", code_flags(files)),
            **spent(ctx, meter, "debug")}
