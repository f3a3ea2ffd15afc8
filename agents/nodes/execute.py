"""``execute`` runs the candidate; ``verify`` runs one paired replicate per step.

One experiment per step: with the checkpoint saved after every step, a crash loses at most
the experiment in flight, and every finished one is kept.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.context import ResearchContext
from agents.experiments import brief, run_experiment
from agents.flags import finding_flags
from agents.nodes.gates import request
from agents.state import ResearchState
from agents.verify import judge


def execute(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Run the current candidate (seed 0) in the sandbox."""
    ctx = runtime.context
    candidate, idea = state["candidate"] or {}, state["idea"] or {}
    attempt = int(candidate["attempt"])
    run = run_experiment(
        ctx, iteration=state["iteration"], role="candidate" if attempt == 0 else "debug", n=attempt,
        seed=0, params=candidate["params"], files=candidate["files"], idea_title=str(idea.get("title", "")),
    )
    return {"last_run": run, "experiments": [brief(run)]}


def verify(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Run the next missing half of a (baseline, candidate) pair; judge when all are in."""
    ctx = runtime.context
    check = dict(state["verification"] or {})
    pairs = {seed: dict(pair) for seed, pair in check["pairs"].items()}
    base = dict(state["baseline"])
    by_seed = dict(base["by_seed"])
    candidate, idea = state["candidate"] or {}, state["idea"] or {}
    for seed in check["seeds"]:
        pair = pairs.setdefault(str(seed), {})
        if "baseline" not in pair and str(seed) in by_seed:
            pair["baseline"] = by_seed[str(seed)]  # the baseline on this seed ran in an earlier iteration
        if "baseline" not in pair:
            run = run_experiment(ctx, iteration=0, role="baseline", n=seed, seed=seed, params={},
                                 files={}, idea_title="baseline")
            pair["baseline"] = by_seed[str(seed)] = run["value"]
            return {"verification": {**check, "pairs": pairs}, "baseline": {**base, "by_seed": by_seed},
                    "experiments": [brief(run)]}
        if "candidate" not in pair:
            run = run_experiment(ctx, iteration=state["iteration"], role="replicate", n=seed, seed=seed,
                                 params=candidate["params"], files=candidate["files"],
                                 idea_title=str(idea.get("title", "")))
            pair["candidate"] = run["value"]
            return {"verification": {**check, "pairs": pairs}, "experiments": [brief(run)]}
    verdict = _verdict(ctx, pairs)
    flagged = finding_flags(float(verdict["mean_gain"]), float(base["value"]))  # type: ignore[arg-type]
    return {"verification": {**check, "pairs": pairs, "verdict": verdict}, "gate": None,
            "checkpoint": request(ctx, "finding", flagged) if verdict["verified"] else None}


def _verdict(ctx: ResearchContext, pairs: dict[str, dict[str, float | None]]) -> dict[str, object]:
    failed = [s for s, p in pairs.items() if p.get("baseline") is None or p.get("candidate") is None]
    if failed:
        return {"verified": False, "mean_gain": 0.0, "stderr": 0.0, "n": 0,
                "reason": f"a replicate failed on seed(s) {', '.join(failed)}"}
    values = [(float(p["baseline"]), float(p["candidate"])) for p in pairs.values()]  # type: ignore[arg-type]
    verdict: dict[str, object] = dict(judge(ctx.task.metric, values))
    verdict["reason"] = (
        f"mean paired gain {verdict['mean_gain']:.4g} ± {verdict['stderr']:.2g} (se) over {verdict['n']} seeds: "
        + ("verified" if verdict["verified"] else "not verified")
    )
    return verdict
