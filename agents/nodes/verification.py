"""``join`` picks the round's candidate; ``verify`` runs it against the incumbent on paired seeds.

The candidate is the round's best node that beats the incumbent on seed 0 by more than the
tolerance (agents/verify.py). It and the incumbent are re-run on this job's verification
seeds (the seed picks the data split, so the two runs of a seed are a pair), a few pairs at a
time, until the sequential rule decides: ``replicates`` pairs first, more at each later look,
at most ``max_replicates``. The root is run on the same seeds too, so the report can state
the overall gain over the baseline (for a task that started from data, the first incumbent stands in
for it). Experiment ids number the replicates 1, 2, ... (never the
seed itself), so runs already made (the incumbent's replicates from its own verification,
the root's) are reused by their deterministic ids, never run twice. A look's missing runs run
concurrently (up to ``search.parallel`` at once); a crash in the middle re-runs the step with
the same seeds, and finished runs are read back from their ``result.json``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from agents import duplicates, tree
from agents.context import ResearchContext
from agents.experiments import brief, experiment_id, run_experiment
from agents.flags import finding_flags, grader_flags
from agents.nodes.gates import request
from agents.protocols import ExperimentRole
from agents.state import ROOT, Json, Node, ResearchState, Run, Verdict, Verification
from agents.verify import (
    IDENTICAL,
    Look,
    beats,
    identical_replicates,
    mean_gain,
    sequential,
    verification_seeds,
)


def join(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """After every branch of the round ended: choose the one candidate to verify, if any."""
    ctx, nodes = runtime.context, state["nodes"]
    incumbent = tree.by_id(nodes)[state["incumbent"]]
    if incumbent["value"] is None:  # no solution yet (the task started from data): decide adopts the first
        return {"verification": None}
    incumbent_value = float(incumbent["value"] or 0.0)
    ahead = [n for n in tree.ranked(ctx.task, nodes, state["incumbent"]) if n["round"] == state["iteration"]
             and not duplicates.is_duplicate(n)  # not new evidence: its original was judged in its own round
             and beats(ctx.task, float(n["value"] or 0.0), incumbent_value)]
    if not ahead:
        return {"verification": None}
    # Nodes within the tolerance of the best are equal: float noise must not pick one, the slot order does.
    best = float(ahead[0]["value"] or 0.0)
    tied = [n for n in ahead if not beats(ctx.task, best, float(n["value"] or 0.0))]
    node = min(tied, key=lambda n: (len(n["id"]), n["id"]))
    chosen = Verification(node=node["id"], against=incumbent["id"],
                          seeds=verification_seeds(ctx.job_id, ctx.task.replicates))
    ctx.journal.emit(ctx.job_id, "verify", {"iteration": state["iteration"], "node": chosen["node"],
                                            "against": chosen["against"], "replicates": ctx.task.replicates,
                                            "max_replicates": ctx.task.max_replicates})
    return {"verification": chosen}


def _role(node: Node) -> ExperimentRole:
    return "baseline" if node["id"] == ROOT else "replicate"


def verify(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Run the pairs look by look (candidate, incumbent, root) until the sequential rule decides."""
    ctx, check = runtime.context, state["verification"]
    assert check is not None
    nodes = tree.by_id(state["nodes"])
    # The root, or for a task that started from data its first incumbent, stands for the baseline.
    candidate, incumbent = nodes[check["node"]], nodes[check["against"]]
    root = nodes[state["baseline"].get("node") or ROOT]
    seeds = verification_seeds(ctx.job_id, ctx.task.max_replicates)
    values = {e["experiment_id"]: e["value"] for e in state.get("experiments", [])}
    ran: list[Run] = []

    def value(node: Node, i: int) -> float | None:
        return values.get(experiment_id(ctx.job_id, node["id"], _role(node), i))

    def pairs_upto(n: int) -> list[tuple[float | None, float | None]]:
        ran.extend(_run_missing(ctx, [candidate, incumbent, root], range(1, n + 1), seeds, values))
        values.update({r["experiment_id"]: r["value"] for r in ran})
        return [(value(incumbent, i), value(candidate, i)) for i in range(1, n + 1)]

    def tell(look: Look) -> None:
        ctx.journal.emit(ctx.job_id, "verify_look", {"iteration": state["iteration"], "node": candidate["id"],
                                                     "against": incumbent["id"], **look})

    taken = sequential(ctx.task, pairs_upto, on_look=tell)
    used = seeds[:taken[-1]["n"]]
    pairs = {str(seed): {"incumbent": value(incumbent, i), "candidate": value(candidate, i)}
             for i, seed in enumerate(used, 1)}
    baseline_pairs = {str(seed): {"baseline": value(root, i), "candidate": value(candidate, i)}
                      for i, seed in enumerate(used, 1)}
    verdict = _verdict(ctx, pairs, baseline_pairs, taken, against=incumbent["id"])
    base = dict(state["baseline"])
    base["by_seed"] = {**base.get("by_seed", {}), **{s: p["baseline"] for s, p in baseline_pairs.items()}}
    flagged = finding_flags(verdict["baseline_gain"] or 0.0, float(base["value"])) + grader_flags(candidate)
    asks = ctx.strategy == "search" or ctx.model is None  # with a model, critique asks (with its flags too)
    return {"experiments": [brief(r) for r in ran], "verdict": verdict, "baseline": base, "gate": None,
            "checkpoint": request(ctx, "finding", flagged) if verdict["verified"] and asks else None}


def _run_missing(ctx: ResearchContext, involved: list[Node], indices: range, seeds: list[int],
                 values: dict[str, float | None]) -> list[Run]:
    """Run, concurrently, every replicate of ``involved`` on the seeds numbered ``indices`` not made yet."""
    wanted: dict[str, tuple[Node, int]] = {}
    for node in involved:
        for i in indices:
            exp_id = experiment_id(ctx.job_id, node["id"], _role(node), i)
            if exp_id not in values:
                wanted[exp_id] = (node, i)

    def run(item: tuple[Node, int]) -> Run:
        node, i = item
        return run_experiment(ctx, node=node["id"], iteration=node["round"], role=_role(node), n=i,
                              seed=seeds[i - 1], params=node["params"], files=node["files"],
                              idea_title=node["idea"]["title"])

    with ThreadPoolExecutor(max_workers=max(1, ctx.task.search.parallel)) as pool:
        return list(pool.map(run, wanted.values()))


def _verdict(ctx: ResearchContext, pairs: dict[str, Json], baseline_pairs: dict[str, Json], taken: list[Look], *,
             against: str) -> Verdict:
    overall = [(float(p["baseline"]), float(p["candidate"])) for p in baseline_pairs.values()
               if p["baseline"] is not None and p["candidate"] is not None]
    look = taken[-1]
    verified = look["decision"] == "verified"
    reason = (f"{'verified' if verified else 'not verified'} against {against} after {look['n']} pairs "
              f"(look {len(taken)}): {look['why']}")
    if identical_replicates(pairs):
        reason += f"; {IDENTICAL}"
    return Verdict(verified=verified, mean_gain=look["mean_gain"], stderr=look["stderr"], n=look["n"], reason=reason,
                   against=against, pairs=pairs, baseline_pairs=baseline_pairs,
                   baseline_gain=mean_gain(ctx.task.metric, overall) if overall else None,
                   replicates=look["n"], looks=[dict(t) for t in taken], bound=look["bound"],
                   tolerance=look["tolerance"])
