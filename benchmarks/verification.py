"""Verification: the sequential rule's power, false positives and replicates spent, beside today's rule.

    .venv/bin/python benchmarks/verification.py [--decisions 4000] [--sandbox-decisions 6]

(1) Synthetic paired gains, SD σ = 1: a true gain of 1.5 σ (normal), no effect (normal), and
the same two with heavy tails (Student t with 3 degrees of freedom, scaled to SD 1). Each
decision runs agents/verify.py's ``sequential`` (replicates 3, max_replicates 8) and, on the
same data, the rule it replaces: verified iff m > 0 and m > 2·SE over R = 3 pairs. Prints the
share verified (targets: ≥ 90 % for the true gain, ≤ 5 % for no effect) and the mean pairs
spent per decision. (2) The real sandbox: a tiny task whose metric is seed-driven noise
(independent per arm, SD 1/√2 so a pair's gain has SD 1) plus a known effect; each decision is
a fresh job id, so fresh verification seeds, and every pair is two real sandbox runs.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.task import Task, parse_task  # noqa: E402
from agents.verify import sequential, verification_seeds  # noqa: E402

TASK_YAML = """
name: noisy-effect
goal: Verify a known effect through seed-driven noise.
metric: {name: score, direction: maximize}
entrypoint: python3 experiment.py
replicates: 3
max_replicates: 8
"""
# The seed and the arm drive the noise: a pair's two runs share the seed but not their noise.
EXPERIMENT = """
import json, os, random
from pathlib import Path
params = json.loads(Path("params.json").read_text()) if Path("params.json").exists() else {}
effect = float(params.get("effect", 0.0))
seed = int(os.environ["LABLOOP_SEED"])
noise = random.Random(f"{seed}/{effect}").gauss(0.0, 0.5 ** 0.5)
Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({"score": 10.0 + effect + noise}))
"""
TASK = parse_task(TASK_YAML)
Draw = Callable[[random.Random], float]


def normal(effect: float) -> Draw:
    """Paired gains ~ N(effect, 1)."""
    return lambda rng: rng.gauss(effect, 1.0)


def heavy(effect: float) -> Draw:
    """Paired gains = effect + Student t(3) scaled to SD 1 (heavy tails)."""
    def draw(rng: random.Random) -> float:
        z = rng.gauss(0.0, 1.0)
        chi2 = sum(rng.gauss(0.0, 1.0) ** 2 for _ in range(3))
        return effect + z / math.sqrt(chi2 / 3) / math.sqrt(3.0)
    return draw


def todays_rule(gains: list[float]) -> bool:
    """The rule this replaces: m > 0 and m > 2·SE over R = 3 pairs."""
    n = len(gains)
    m = sum(gains) / n
    se = math.sqrt(sum((g - m) ** 2 for g in gains) / (n - 1) / n)
    return m > 0 and m > 2 * se


def synthetic(task: Task, draw: Draw, decisions: int, seed: int) -> tuple[float, float, float]:
    """Share verified and mean pairs spent by the new rule, and the share verified by today's rule."""
    rng = random.Random(seed)
    verified = spent = old = 0
    for _ in range(decisions):
        gains = [draw(rng) for _ in range(task.max_replicates)]
        asked: list[int] = []

        def pairs_upto(n: int, gains: list[float] = gains, asked: list[int] = asked) -> list[tuple[float | None, float | None]]:
            asked.append(n)
            return [(10.0, 10.0 + g) for g in gains[:n]]

        verified += sequential(task, pairs_upto)[-1]["decision"] == "verified"
        spent += max(asked)
        old += todays_rule(gains[:3])
    return verified / decisions, spent / decisions, old / decisions


def on_sandbox(decisions: int) -> list[tuple[str, float, float, float]]:
    """(case, share verified, mean pairs, seconds) with real sandbox runs."""
    from sandbox.engine import connect
    from sandbox.result import Limits, RunRequest
    from sandbox.runner import DockerSandbox
    from services.settings import get_settings

    work = Path(tempfile.mkdtemp(prefix="labloop-bench-verification-"))
    limits = Limits(timeout_s=60, memory="256m")
    rows = []
    with DockerSandbox(connect(), image=get_settings().sandbox_image, work_dir=work / "sandbox", pool_size=2,
                       reap_interval_s=None) as runner:
        def value(effect: float, seed: int, tag: str) -> float | None:
            workspace = work / tag / "workspace"
            workspace.mkdir(parents=True)
            (workspace / "experiment.py").write_text(EXPERIMENT)
            (workspace / "params.json").write_text(json.dumps({"effect": effect}))
            result = runner.run(RunRequest(workspace, work / tag / "out", TASK.entrypoint, limits, seed=seed,
                                           metric="score"))
            return result.metrics.get("score") if result.succeeded else None

        for case, effect in (("true gain 1.5 σ", 1.5), ("no effect", 0.0)):
            verified = spent = 0
            started = time.perf_counter()
            for k in range(decisions):
                job = f"bench-{case[:4]}-{k}"
                seeds = verification_seeds(job, TASK.max_replicates)
                made: list[tuple[float | None, float | None]] = []

                def pairs_upto(n: int, seeds: list[int] = seeds, made: list[tuple[float | None, float | None]] = made,
                               job: str = job, effect: float = effect) -> list[tuple[float | None, float | None]]:
                    for i in range(len(made), n):
                        made.append((value(0.0, seeds[i], f"{job}-inc-{i}"), value(effect, seeds[i], f"{job}-cand-{i}")))
                    return made[:n]

                verified += sequential(TASK, pairs_upto)[-1]["decision"] == "verified"
                spent += len(made)
            rows.append((case, verified / decisions, spent / decisions, time.perf_counter() - started))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=4000, help="synthetic decisions per case")
    parser.add_argument("--sandbox-decisions", type=int, default=6, help="real sandbox decisions per case (0: skip)")
    args = parser.parse_args()
    print(f"\nSynthetic paired gains (σ = 1), {args.decisions} decisions per case; sequential rule with "
          f"replicates {TASK.replicates}, max_replicates {TASK.max_replicates}\n")
    print("| case | sequential: verified | sequential: mean pairs | today (m > 2·SE, R = 3): verified | "
          "today: pairs | target |")
    print("|---|---|---|---|---|---|")
    cases = [("normal, true gain 1.5 σ", normal(1.5), "≥ 90 %"), ("normal, no effect", normal(0.0), "≤ 5 %"),
             ("heavy tails t(3), true gain 1.5 σ", heavy(1.5), "≥ 90 %"),
             ("heavy tails t(3), no effect", heavy(0.0), "≤ 5 %")]
    for i, (case, draw, target) in enumerate(cases):
        share, pairs, old = synthetic(TASK, draw, args.decisions, seed=i)
        print(f"| {case} | {share:.1%} | {pairs:.2f} | {old:.1%} | 3 | {target} |")
    if args.sandbox_decisions:
        print(f"\nReal sandbox: seed-driven noise plus a known effect, {args.sandbox_decisions} decisions per case\n")
        print("| case | verified | mean pairs | seconds |")
        print("|---|---|---|---|")
        for case, share, pairs, seconds in on_sandbox(args.sandbox_decisions):
            print(f"| {case} | {share:.0%} | {pairs:.2f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
