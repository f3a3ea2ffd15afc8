"""Framework overhead of one research-loop iteration: the LangGraph graph vs. the same steps as plain calls.

    .venv/bin/python benchmarks/loop.py [--iterations 40] [--repeats 3]

Everything but the experiment's own run time and LLM time is measured: the runner returns
instantly (it scores the quadratic task from the workspace's params.json, as the experiment
would), there is no LLM (strategy ``search``: Optuna TPE) and no memory, gates are ``never``.
What is left is the loop itself: sampling, workspaces (copy + params + diff), result files,
the app-database journal (SQLite; a node's start and end events, as the service emits them), the state, and — for the graph only — LangGraph with the
SQLite checkpointer saving every step (``durability="sync"``). An iteration is one round of
the tree with ``search.parallel: 1``: select → a branch (ideate → implement → execute →
review, a subgraph with its own checkpoints) → join (→ verify → critique when the candidate
beats the incumbent) → decide (gates are passed through only when a human is asked); timed
from one select to the next.

Target (docs/design.md): framework overhead per iteration <= 25 ms at the median.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph.graph import END  # noqa: E402
from langgraph.runtime import Runtime  # noqa: E402

from agents import nodes  # noqa: E402
from agents.context import ResearchContext  # noqa: E402
from agents.graph import (  # noqa: E402
    after_critique,
    after_decide,
    after_gate,
    after_ideate,
    after_implement,
    after_join,
    after_verify,
    build_graph,
)
from agents.state import initial_state, upsert_nodes  # noqa: E402
from agents.task import load_task  # noqa: E402
from sandbox.result import ExperimentResult, OutputSink, RunRequest  # noqa: E402
from services.checkpointer import open_checkpointer  # noqa: E402
from services.driver import Progress, run_steps  # noqa: E402
from services.settings import Settings  # noqa: E402
from services.store import SqlJournal, create_job, open_store  # noqa: E402

TARGET_MS = 25.0
TASK_YAML = """name: quad
goal: Maximise -(x-1.5)^2 - (y+0.5)^2.
metric: {name: score, direction: maximize}
entrypoint: python3 experiment.py
params:
  x: {low: -3.0, high: 3.0}
  y: {low: -3.0, high: 3.0}
budget: {iterations: %d, experiment_timeout_s: 60}
replicates: 2
search: {parallel: 1}
"""
EXPERIMENT = "# scored by the benchmark's instant runner\n"
LISTS = ("experiments", "findings", "decisions", "rejections", "notes")
COUNTS = ("tokens", "cost_usd")


class InstantRunner:
    """Scores the quadratic from params.json without running anything (0 ms experiment time)."""

    def run(self, request: RunRequest, on_output: OutputSink | None = None) -> ExperimentResult:
        """Score the params in the workspace; takes no time."""
        params_file = Path(request.workspace) / "params.json"
        p = {"x": -3.0, "y": 3.0, **(json.loads(params_file.read_text()) if params_file.exists() else {})}
        score = -((p["x"] - 1.5) ** 2 + (p["y"] + 0.5) ** 2) + 0.001 * (request.seed % 7)
        return ExperimentResult(status="succeeded", exit_code=0, metrics={"score": score})


def _context(root: Path, settings: Settings, journal: SqlJournal, job_id: str, iterations: int) -> ResearchContext:
    task_dir = root / "task"
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "task.yaml").write_text(TASK_YAML % iterations)
    (task_dir / "experiment.py").write_text(EXPERIMENT)
    return ResearchContext(job_id=job_id, task=load_task(task_dir), task_dir=task_dir, runner=InstantRunner(),
                           journal=journal, runs_dir=settings.runs_dir,
                           gates={"idea": "never", "code": "never", "finding": "never"})


Sample = tuple[float, float]  # (wall ms, CPU ms) of one iteration


def _clock() -> Sample:
    return time.perf_counter() * 1000, time.process_time() * 1000


def _per_iteration(marks: list[Sample]) -> list[Sample]:
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(marks, marks[1:], strict=False)]


def run_graph(ctx: ResearchContext, settings: Settings) -> list[Sample]:
    """One job through the compiled graph with the SQLite checkpointer, driven as the service drives it."""
    marks: list[Sample] = []

    def progress(p: Progress) -> None:
        if p.kind == "node_started" and p.node in ("select", "report"):
            marks.append(_clock())

    with open_checkpointer(settings) as saver:
        graph = build_graph(saver)
        config: Any = {"configurable": {"thread_id": ctx.job_id}}
        run_steps(graph, initial_state(ctx.job_id, time.time()), config, ctx, ctx.journal, progress)
    return _per_iteration(marks)


def _merge(state: dict[str, Any], update: Any) -> None:
    for key, value in (update or {}).items():
        if key == "nodes":
            state[key] = upsert_nodes(state.get(key, []), value)
        elif key in LISTS:
            state[key] = operator.add(state.get(key, []), value)
        elif key in COUNTS:
            state[key] = state.get(key, 0) + value
        elif key == "stop_reason":
            state[key] = state.get(key) or value
        else:
            state[key] = value


def run_plain(ctx: ResearchContext) -> list[Sample]:
    """The same nodes called as plain functions, routed by the graph's own routers, state merged by hand."""
    runtime: Runtime[ResearchContext] = Runtime(context=ctx)
    state: dict[str, Any] = dict(initial_state(ctx.job_id, time.time()))
    job_routes: dict[str, Callable[[Any], str]] = {
        "baseline": lambda _s: "select", "select": lambda _s: "branches", "join": after_join,
        "verify": after_verify, "critique": after_critique, "gate_finding": lambda _s: "decide",
        "decide": after_decide, "report": lambda _s: "",
    }
    branch_routes: dict[str, Callable[[Any], str]] = {
        "ideate": after_ideate, "gate_idea": after_gate, "implement": after_implement, "gate_code": after_gate,
        "execute": lambda _s: "review", "review": lambda _s: END, "abandon": lambda _s: END,
    }
    marks: list[Sample] = []
    node = "baseline"
    while node:
        if node in ("select", "report"):
            marks.append(_clock())
        if node == "branches":  # one branch a round here (parallel: 1), run step by step
            for send in nodes.fan_out(state):  # type: ignore[arg-type]
                branch: dict[str, Any] = dict(send.arg)
                step = "ideate"
                while step != END:
                    _merge(branch, getattr(nodes, step)(branch, runtime))
                    step = branch_routes[step](branch)
                _merge(state, {k: branch[k] for k in ("nodes", "experiments", "tokens", "cost_usd", "decisions",
                                                      "rejections", "notes", "stop_reason") if k in branch})
            node = "join"
            continue
        ctx.journal.emit(ctx.job_id, "node", {"node": node, "phase": "started", "iteration": state["iteration"]})
        _merge(state, getattr(nodes, node)(state, runtime))
        ctx.journal.emit(ctx.job_id, "node", {"node": node, "phase": "finished", "iteration": state["iteration"]})
        node = job_routes[node](state)
    return _per_iteration(marks)


def _row(name: str, samples: list[Sample]) -> str:
    wall, cpu = [w for w, _ in samples], [c for _, c in samples]
    return (f"| {name:<32} | {len(samples):>4} | {statistics.median(wall):>8.2f} | "
            f"{statistics.quantiles(wall, n=10)[-1]:>8.2f} | {statistics.median(cpu):>8.2f} | "
            f"{statistics.quantiles(cpu, n=10)[-1]:>8.2f} |")


def main() -> None:
    """Run both variants interleaved, job by job, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[Sample]] = {"graph": [], "plain": []}
    with tempfile.TemporaryDirectory(prefix="labloop-bench-loop-") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        with open_store(settings.db_url) as store:
            journal = SqlJournal(store)
            for repeat in range(args.repeats):
                for variant, sink in results.items():
                    job_id = f"bench-{variant}-{repeat}"
                    ctx = _context(Path(tmp) / job_id, settings, journal, job_id, args.iterations)
                    create_job(store, task_name="quad", task_dir=str(ctx.task_dir), strategy="search", job_id=job_id)
                    sink.extend(run_graph(ctx, settings) if variant == "graph" else run_plain(ctx))
    graph, plain = results["graph"], results["plain"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Research-loop iteration, instant runner, no LLM ({args.repeats} jobs × {args.iterations} iterations "
          f"per variant, interleaved; {os.cpu_count()} CPUs, load average {load})\n")
    print("| variant (ms per iteration)       |    n | wall med | wall p90 |  CPU med |  CPU p90 |")
    print("|----------------------------------|------|----------|----------|----------|----------|")
    print(_row("graph (LangGraph + SQLite ckpt)", graph))
    print(_row("plain function calls", plain))
    median = statistics.median(w for w, _ in graph)
    cpu = statistics.median(c for _, c in graph)
    added = median - statistics.median(w for w, _ in plain)
    verdict = "meets" if median <= TARGET_MS else "misses"
    print(f"\nFramework overhead per iteration (graph, wall-clock median): {median:.2f} ms ({cpu:.2f} ms of CPU) — "
          f"{verdict} the ≤ {TARGET_MS:.0f} ms target; LangGraph + checkpointer add {added:.2f} ms over plain calls.")


if __name__ == "__main__":
    main()
