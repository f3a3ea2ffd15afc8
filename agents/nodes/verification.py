"""``join`` picks the round's candidate; ``verify`` runs it against the incumbent on paired seeds.

The candidate is the round's best node that beats the incumbent on seed 0. It and the
incumbent are re-run on seeds 1..R (the seed picks the data split, so the two runs of a seed
are a pair); the root is run on the same seeds too, so the report can state the overall gain
over the baseline (for a task that started from data, the first incumbent stands in for it). Runs already made (the incumbent's replicates from its own verification,
the root's) are reused by their deterministic ids, never run twice. A verify step runs its
missing replicates concurrently (up to ``search.parallel`` at once); a crash in the middle
re-runs the step, and finished runs are read back from their ``result.json``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from agents import tree
from agents.context import ResearchContext
from agents.experiments import brief, experiment_id, run_experiment
from agents.flags import finding_flags, grader_flags
from agents.nodes.gates import request
from agents.protocols import ExperimentRole
from agents.state import ROOT, Json, Node, ResearchState, Run, Verdict, Verification
from agents.verify import IDENTICAL, identical_replicates, judge, replicate_seeds


def join(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """After every branch of the round ended: choose the one candidate to verify, if any."""
    ctx, nodes = runtime.context, state["nodes"]
    incumbent = tree.by_id(nodes)[state["incumbent"]]
    if incumbent["value"] is None:  # no solution yet (the task started from data): decide adopts the first
        return {"verification": None}
    beats = [n for n in tree.ranked(ctx.task, nodes, state["incumbent"]) if n["round"] == state["iteration"]
             and ctx.task.metric.better(float(n["value"] or 0.0), float(incumbent["value"] or 0.0))]
    if not beats:
        return {"verification": None}
    chosen = Verification(node=beats[0]["id"], against=incumbent["id"], seeds=replicate_seeds(ctx.task.replicates))
    ctx.journal.emit(ctx.job_id, "verify", {"iteration": state["iteration"], **chosen})
    return {"verification": chosen}


def _role(node: Node) -> ExperimentRole:
    return "baseline" if node["id"] == ROOT else "replicate"


def verify(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Run every missing replicate (candidate, incumbent, root) and judge the pairs."""
    ctx, check = runtime.context, state["verification"]
    assert check is not None
    nodes = tree.by_id(state["nodes"])
    involved = [nodes[check["node"]], nodes[check["against"]], nodes[state["baseline"].get("node") or ROOT]]
    known = {e["experiment_id"]: e for e in state.get("experiments", [])}
    wanted: dict[str, tuple[Node, int]] = {}
    for node in involved:
        for seed in check["seeds"]:
            wanted[experiment_id(ctx.job_id, node["id"], _role(node), seed)] = (node, seed)

    def run(item: tuple[Node, int]) -> Run:
        node, seed = item
        return run_experiment(ctx, node=node["id"], iteration=node["round"], role=_role(node), n=seed, seed=seed,
                              params=node["params"], files=node["files"], idea_title=node["idea"]["title"])

    missing = [item for exp_id, item in wanted.items() if exp_id not in known]
    with ThreadPoolExecutor(max_workers=max(1, ctx.task.search.parallel)) as pool:
        ran = list(pool.map(run, missing))
    values = {e["experiment_id"]: e["value"] for e in [*known.values(), *ran]}

    def of(node: Node, seed: int) -> float | None:
        return values.get(experiment_id(ctx.job_id, node["id"], _role(node), seed))

    candidate, incumbent, root = involved
    pairs = {str(s): {"incumbent": of(incumbent, s), "candidate": of(candidate, s)} for s in check["seeds"]}
    baseline_pairs = {str(s): {"baseline": of(root, s), "candidate": of(candidate, s)} for s in check["seeds"]}
    verdict = _verdict(ctx, pairs, baseline_pairs, against=incumbent["id"])
    base = dict(state["baseline"])
    base["by_seed"] = {**base.get("by_seed", {}), **{s: p["baseline"] for s, p in baseline_pairs.items()}}
    flagged = finding_flags(verdict["baseline_gain"] or 0.0, float(base["value"])) + grader_flags(candidate)
    asks = ctx.strategy == "search" or ctx.model is None  # with a model, critique asks (with its flags too)
    return {"experiments": [brief(r) for r in ran], "verdict": verdict, "baseline": base, "gate": None,
            "checkpoint": request(ctx, "finding", flagged) if verdict["verified"] and asks else None}


def _verdict(ctx: ResearchContext, pairs: dict[str, Json], baseline_pairs: dict[str, Json], *,
             against: str) -> Verdict:
    failed = [s for s, p in pairs.items() if p["incumbent"] is None or p["candidate"] is None]
    overall = [(float(p["baseline"]), float(p["candidate"])) for p in baseline_pairs.values()
               if p["baseline"] is not None and p["candidate"] is not None]
    baseline_gain = float(judge(ctx.task.metric, overall)["mean_gain"]) if overall else None
    if failed:
        return Verdict(verified=False, mean_gain=0.0, stderr=0.0, n=0, against=against, pairs=pairs,
                       baseline_pairs=baseline_pairs, baseline_gain=baseline_gain,
                       reason=f"a replicate failed on seed(s) {', '.join(failed)}")
    judged = judge(ctx.task.metric, [(float(p["incumbent"]), float(p["candidate"])) for p in pairs.values()])
    mean, se, n = float(judged["mean_gain"]), float(judged["stderr"]), int(judged["n"])
    reason = (f"mean paired gain over {against} {mean:.4g} ± {se:.2g} (se) over {n} seeds: "
              + ("verified" if judged["verified"] else "not verified"))
    if identical_replicates(pairs):
        reason += f"; {IDENTICAL}"
    return Verdict(verified=bool(judged["verified"]), mean_gain=mean, stderr=se, n=n, reason=reason, against=against,
                   pairs=pairs, baseline_pairs=baseline_pairs, baseline_gain=baseline_gain)
