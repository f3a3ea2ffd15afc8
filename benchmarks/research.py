"""Research quality and throughput: the search strategy vs random search, and parallel 1 vs 2.

    .venv/bin/python benchmarks/research.py [--seeds 20] [--experiments 30] [--throughput-experiments 16]
        [--dedup-rounds 8] [--skip-regret] [--skip-throughput] [--skip-dedup]

**Regret.** On the two example tasks with a known optimum — ``tasks/smooth`` (a smooth surface)
and ``tasks/crashing`` (gradient descent that diverges past a learning-rate boundary, where
the run crashes) — each strategy gets the same number of experiments, side by side, for each
seed: the search strategy's sampler (:func:`agents.search.propose_many`, TPE, failures told as
penalised points), the same sampler with failures left out (as before issue 11), and random
search (uniform, log-uniform where the space says ``log``). The objective is evaluated in
process from the task's own ``experiment.py`` (its ``objective`` function), so only the choice
of points is compared. Regret = |best found − optimum| (the task's stated optimum, else a dense grid's best); a run
that found nothing has the baseline's regret. Targets (docs/design.md): median regret of the search
strategy ≤ 0.5× random's on the smooth task and ≤ random's on the crashing one.

**Throughput.** Whole research jobs (the graph, the real Docker sandbox, a SQLite
checkpointer, strategy search, no gates) on a copy of ``tasks/smooth`` whose experiment first
burns one or three seconds of CPU, or waits a second, with ``search.parallel`` 1 and 2 and the
same experiment budget; experiments per minute of wall clock, and the machine's CPU time (every
process and the kernel, from /proc/stat) per experiment. Then what one sandbox container costs
the machine in CPU to prepare and to remove. Target: ≥ 1.6× with parallel 2 on 2 cores.

**Deduplication.** A whole search job (real sandbox, ``parallel: 2``) on a task whose space is
small and discrete (3 × 2 choices), so the sampler proposes points the tree already holds, as a
model re-proposing a change does: the candidates the slots made, the candidate runs the sandbox
did, and the experiments saved because a candidate's content was already in the tree or in its
sibling branch (agents/duplicates.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.search import propose_many  # noqa: E402
from agents.task import Task, load_task  # noqa: E402

Point = dict[str, Any]


def _module(task_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"task_{task_dir.name}", task_dir / "experiment.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _grid_optimum(task: Task, objective: Callable[[Point], float], per_axis: int) -> float:
    axes = []
    for name, p in task.params.items():
        assert p.low is not None and p.high is not None
        lo, hi = (math.log10(p.low), math.log10(p.high)) if p.log else (p.low, p.high)
        axes.append([(name, 10 ** (lo + (hi - lo) * i / (per_axis - 1)) if p.log else lo + (hi - lo) * i / (per_axis - 1))
                     for i in range(per_axis)])
    best: float | None = None
    for combo in _product(axes):
        try:
            value = objective(dict(combo))
        except FloatingPointError:
            continue
        best = value if best is None or task.metric.better(value, best) else best
    assert best is not None
    return best


def _product(axes: list[list[tuple[str, float]]]) -> list[list[tuple[str, float]]]:
    combos: list[list[tuple[str, float]]] = [[]]
    for axis in axes:
        combos = [[*c, point] for c in combos for point in axis]
    return combos


def _random_point(task: Task, rng: random.Random) -> Point:
    point: Point = {}
    for name, p in task.params.items():
        assert p.low is not None and p.high is not None
        point[name] = 10 ** rng.uniform(math.log10(p.low), math.log10(p.high)) if p.log else rng.uniform(p.low, p.high)
    return point


def search_run(task: Task, objective: Callable[[Point], float], *, seed: int, experiments: int,
               strategy: str) -> tuple[float | None, int]:
    """Best value found and crashes, for one seed of one strategy."""
    own: list[tuple[Point, float]] = []
    told: list[tuple[Point, float | None]] = []  # in the order they ran; None: the run crashed
    failed = 0
    rng = random.Random(seed)
    for i in range(experiments):
        if strategy == "random":
            point = _random_point(task, rng)
        else:
            shown = told if strategy == "search" else [(p, v) for p, v in told if v is not None]
            point = propose_many(task, job_id=f"bench-{seed}", iteration=i, told=shown)[0]["params"]
        try:
            value = objective(point)
        except FloatingPointError:
            failed += 1
            told.append((point, None))
        else:
            own.append((point, value))
            told.append((point, value))
    values = [v for _, v in own]
    if not values:
        return None, failed
    return (max(values) if task.metric.direction == "maximize" else min(values)), failed


STRATEGIES = {"search": "search (TPE, failures told)", "search-blind": "TPE, failures not told",
              "random": "random search"}


def regret_table(seeds: int, experiments: int) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Median regret per task and strategy, measured seed by seed, side by side."""
    lines = ["| task | strategy | median regret | mean regret | crashes per run | ratio to random |",
             "|---|---|---|---|---|---|"]
    medians: dict[str, dict[str, float]] = {}
    for name in ("smooth", "crashing"):
        task_dir = ROOT / "tasks" / name
        task, module = load_task(task_dir), _module(task_dir)

        def objective(point: Point, module: ModuleType = module) -> float:
            return float(module.objective(point, 0))

        known = getattr(module, "OPTIMUM", None)
        optimum = float(known) if known is not None else _grid_optimum(task, objective, per_axis=200)
        baseline = objective({})
        regrets: dict[str, list[float]] = {s: [] for s in STRATEGIES}
        crashes: dict[str, list[int]] = {s: [] for s in STRATEGIES}
        for seed in range(seeds):
            for strategy in STRATEGIES:  # interleaved: every strategy sees the same seeds in the same order
                best, crashed = search_run(task, objective, seed=seed, experiments=experiments, strategy=strategy)
                regrets[strategy].append(abs((best if best is not None else baseline) - optimum))
                crashes[strategy].append(crashed)
        medians[name] = {s: statistics.median(r) for s, r in regrets.items()}
        for strategy, label in STRATEGIES.items():
            ratio = medians[name][strategy] / medians[name]["random"] if medians[name]["random"] else math.nan
            lines.append(f"| {name} | {label} | {medians[name][strategy]:.5f} | {statistics.mean(regrets[strategy]):.5f} "
                         f"| {statistics.mean(crashes[strategy]):.1f} | {ratio:.2f}× |")
    return lines, medians


_CPU = "import time as _t\n_end = _t.process_time() + {s}\nwhile _t.process_time() < _end:\n    pass\n"
BURN = {  # what each experiment does first: seconds of CPU (a training step), or of waiting (I/O)
    "1 s of CPU": _CPU.format(s=1.0),
    "3 s of CPU": _CPU.format(s=3.0),
    "1 s of waiting": "import time as _t\n_t.sleep(1.0)\n",
}


def _busy_s() -> float:
    """CPU seconds the whole machine has been busy (every process and the kernel), from /proc/stat."""
    with open("/proc/stat") as stat:
        ticks = [int(x) for x in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def throughput(parallel: int, experiments: int, work_dir: Path, work: str) -> tuple[int, float, float]:
    """Run one whole search job; return (experiments run, wall seconds, machine CPU seconds)."""
    import docker
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agents.context import ResearchContext
    from agents.graph import build_graph
    from agents.state import initial_state
    from sandbox.runner import DockerSandbox

    slug = work.replace(" ", "-")
    task_dir = work_dir / f"smooth-{slug}-p{parallel}"
    shutil.copytree(ROOT / "tasks" / "smooth", task_dir)
    code = (task_dir / "experiment.py").read_text()
    (task_dir / "experiment.py").write_text(BURN[work] + code)
    task = load_task(task_dir)
    task = task.model_copy(update={
        "search": task.search.model_copy(update={"parallel": parallel}),
        "budget": task.budget.model_copy(update={"iterations": 1000, "experiments": experiments}),
    })
    job_id = f"bench-{slug.replace('-', '')}-p{parallel}-{os.getpid()}"
    import sqlite3

    with DockerSandbox(docker.from_env(), image=os.environ.get("LABLOOP_SANDBOX_IMAGE", "labloop-sandbox"),
                       work_dir=work_dir / f"sandbox-{slug}-{parallel}", pool_size=4,
                       reap_interval_s=None) as runner:
        ctx = ResearchContext(job_id=job_id, task=task, task_dir=task_dir, runner=runner, journal=_NoJournal(),
                              runs_dir=work_dir / "runs", strategy="search",
                              gates={"idea": "never", "code": "never", "finding": "never"})
        image = os.environ.get("LABLOOP_SANDBOX_IMAGE", "labloop-sandbox")
        runner.pool.wait_ready(image, task.sandbox.limits(task.budget.experiment_timeout_s), timeout_s=60)
        conn = sqlite3.connect(str(work_dir / f"ckpt-{slug}-{parallel}.sqlite"), check_same_thread=False)
        graph = build_graph(SqliteSaver(conn))
        config: Any = {"configurable": {"thread_id": job_id}, "recursion_limit": 10_000}
        started, busy = time.perf_counter(), _busy_s()
        graph.invoke(initial_state(job_id, time.time()), config, context=ctx, durability="sync")
        wall, busy = time.perf_counter() - started, _busy_s() - busy
        ran = len(graph.get_state(config).values["experiments"])
        conn.close()
    return ran, wall, busy


def container_cost(runs: int = 10) -> tuple[float, float]:
    """Machine CPU ms to prepare one warm sandbox container, and to remove one (engine, runtime, kernel)."""
    import docker

    from sandbox.result import Limits
    from sandbox.runner import DockerSandbox

    image = os.environ.get("LABLOOP_SANDBOX_IMAGE", "labloop-sandbox")
    with tempfile.TemporaryDirectory() as tmp, DockerSandbox(
            docker.from_env(), image=image, work_dir=Path(tmp), pool_size=0, reap_interval_s=None) as runner:
        busy = _busy_s()
        prepared = [runner.factory.prepare(image, Limits(), labels={}, expiry_s=600) for _ in range(runs)]
        made, busy = (_busy_s() - busy) / runs, _busy_s()
        for one in prepared:
            runner.factory.discard(one)
        removed = (_busy_s() - busy) / runs
    return made * 1000, removed * 1000


DEDUP_EXPERIMENT = """import json, os
from pathlib import Path
p = {"lr": 0.1, "depth": 2}
if Path("params.json").exists():
    p.update(json.loads(Path("params.json").read_text()))
score = 1.0 - abs(p["lr"] - 0.03) * 5 - abs(p["depth"] - 4) * 0.05 + 0.001 * (int(os.environ["LABLOOP_SEED"]) % 7)
(Path(os.environ["LABLOOP_OUTPUT"]) / "metrics.json").write_text(json.dumps({"score": score}))
"""
DEDUP_TASK = """name: discrete
goal: Maximise the score over a small discrete space.
metric: {name: score, direction: maximize}
entrypoint: python3 experiment.py
params:
  lr: {choices: [0.3, 0.1, 0.03]}
  depth: {choices: [2, 4]}
budget: {iterations: ROUNDS, experiment_timeout_s: 60, debug_attempts: 1, llm_tokens: 1000}
sandbox: {cpus: 1.0, memory: 256m, network: none}
replicates: 2
search: {parallel: 2}
"""


def dedup(rounds: int, work_dir: Path) -> dict[str, float]:
    """One search job on the discrete task: candidates made, candidate runs, duplicates, all experiments."""
    import sqlite3

    import docker
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agents.context import ResearchContext
    from agents.duplicates import saved
    from agents.graph import build_graph
    from agents.state import ROOT as ROOT_NODE
    from agents.state import initial_state
    from sandbox.runner import DockerSandbox

    task_dir = work_dir / "discrete"
    task_dir.mkdir()
    (task_dir / "task.yaml").write_text(DEDUP_TASK.replace("ROUNDS", str(rounds)))
    (task_dir / "experiment.py").write_text(DEDUP_EXPERIMENT)
    task = load_task(task_dir)
    job_id = f"bench-dedup-{os.getpid()}"
    image = os.environ.get("LABLOOP_SANDBOX_IMAGE", "labloop-sandbox")
    with DockerSandbox(docker.from_env(), image=image, work_dir=work_dir / "sandbox-dedup", pool_size=2,
                       reap_interval_s=None) as runner:
        ctx = ResearchContext(job_id=job_id, task=task, task_dir=task_dir, runner=runner, journal=_NoJournal(),
                              runs_dir=work_dir / "runs", strategy="search",
                              gates={"idea": "never", "code": "never", "finding": "never"})
        conn = sqlite3.connect(str(work_dir / "ckpt-dedup.sqlite"), check_same_thread=False)
        graph = build_graph(SqliteSaver(conn))
        config: Any = {"configurable": {"thread_id": job_id}, "recursion_limit": 10_000}
        started = time.perf_counter()
        graph.invoke(initial_state(job_id, time.time()), config, context=ctx, durability="sync")
        wall = time.perf_counter() - started
        values = graph.get_state(config).values
        conn.close()
    nodes = [n for n in values["nodes"] if n["id"] != ROOT_NODE]
    runs = [e for e in values["experiments"] if e["role"] in ("candidate", "debug")]
    return {"candidates": len(nodes), "runs": len(runs), "saved": saved(nodes),
            "experiments": len(values["experiments"]), "wall": wall}


class _NoJournal:
    """A journal that keeps nothing (the app database is not what is measured here)."""

    def record_experiment(self, record: object) -> None:
        """Drop the record."""

    def emit(self, job_id: str, kind: str, data: Mapping[str, Any]) -> None:
        """Drop the event."""


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--experiments", type=int, default=30)
    parser.add_argument("--throughput-experiments", type=int, default=16)
    parser.add_argument("--skip-regret", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--dedup-rounds", type=int, default=8)
    parser.add_argument("--skip-dedup", action="store_true")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    out = sys.stdout
    out.write(f"Search vs random search, {args.seeds} seeds × {args.experiments} experiments per run "
              f"({os.cpu_count()} CPUs, load average {load})\n\n")
    if not args.skip_regret:
        lines, medians = regret_table(args.seeds, args.experiments)
        out.write("\n".join(lines) + "\n\n")
        smooth = medians["smooth"]["search"] / medians["smooth"]["random"]
        crashing = medians["crashing"]["search"] / medians["crashing"]["random"]
        out.write(f"Median regret, search / random: smooth {smooth:.2f}× (target ≤ 0.5×: "
                  f"{'met' if smooth <= 0.5 else 'missed'}), crashing {crashing:.2f}× (target ≤ 1×: "
                  f"{'met' if crashing <= 1.0 else 'missed'})\n\n")
    if not args.skip_dedup:
        with tempfile.TemporaryDirectory() as tmp:
            d = dedup(args.dedup_rounds, Path(tmp))
        out.write("| job | candidates made | candidate runs | saved by deduplication | all experiments | wall (s) |\n"
                  "|---|---|---|---|---|---|\n"
                  f"| search, parallel 2, {args.dedup_rounds} rounds, 6 distinct points | {d['candidates']:.0f} | "
                  f"{d['runs']:.0f} | {d['saved']:.0f} ({d['saved'] / max(d['candidates'], 1):.0%}) | "
                  f"{d['experiments']:.0f} | {d['wall']:.1f} |\n\n")
    if args.skip_throughput:
        return
    out.write("| experiment work | search.parallel | experiments | wall (s) | experiments / minute | ratio | "
              "machine CPU per experiment (s) |\n|---|---|---|---|---|---|---|\n")
    for work in BURN:
        with tempfile.TemporaryDirectory() as tmp:
            rows = {p: throughput(p, args.throughput_experiments, Path(tmp), work) for p in (1, 2)}
        rate = {p: ran / wall * 60 for p, (ran, wall, _) in rows.items()}
        for p, (ran, wall, busy) in rows.items():
            out.write(f"| {work} | {p} | {ran} | {wall:.1f} | {rate[p]:.1f} | {rate[p] / rate[1]:.2f}× | "
                      f"{busy / ran:.2f} |\n")
    made, removed = container_cost()
    out.write(f"\nA sandbox container costs the machine {made:.0f} ms of CPU to prepare and {removed:.0f} ms to "
              "remove (engine, runtime and kernel): with parallel 1 that work overlaps the run on the idle core; "
              "with two CPU-bound runs on 2 cores it competes with them.\n")
    out.write(f"\nTarget: parallel 2 ≥ 1.6× parallel 1 on 2 cores (load average after: "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}).\n")


if __name__ == "__main__":
    main()
