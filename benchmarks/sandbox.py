"""Sandbox overhead: one trivial experiment end to end, several ways, side by side.

    .venv/bin/python benchmarks/sandbox.py [--runs 20] [--throughput-runs 16] [--runtimes runc,runsc]

(a) a bare local subprocess, (b) DockerSandbox with a warm pool, (c) DockerSandbox cold,
(d) ``docker run --rm`` from the CLI (same mounts, no network); (b) and (c) again under each
other runtime the engine has (gVisor's runsc). Each sample is the whole
round trip: workspace in, ``sh exp.sh`` run (it writes metrics.json), metrics read back. Prints median and
p90 of each and the overhead over (a), then throughput with 1, 2 and 4 experiments at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.engine import connect  # noqa: E402
from sandbox.result import Limits, RunRequest  # noqa: E402
from sandbox.runner import DockerSandbox  # noqa: E402
from services.settings import get_settings  # noqa: E402

# A shell one-liner, not Python: the host's and the image's interpreters start at different
# speeds (site hooks), and that difference is not the sandbox's overhead.
EXPERIMENT = """echo '{"ok": 1}' > "$LABLOOP_OUTPUT/metrics.json"\n"""
COMMAND = "sh exp.sh"
LIMITS = Limits(timeout_s=60)


def _workspace(root: Path) -> Path:
    workspace = root / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "exp.sh").write_text(EXPERIMENT)
    return workspace


def _check(output: Path) -> None:
    if json.loads((output / "metrics.json").read_text()) != {"ok": 1}:
        raise SystemExit(f"unexpected metrics in {output}")


def bare(root: Path, workspace: Path) -> None:
    """(a) the experiment as a plain local subprocess."""
    copy = root / "bare-ws"
    shutil.copytree(workspace, copy)
    output = root / "bare-out"
    output.mkdir()
    env = {"PATH": os.environ["PATH"], "LABLOOP_OUTPUT": str(output), "LABLOOP_SEED": "0"}
    subprocess.run(["sh", "exp.sh"], cwd=copy, env=env, check=True)
    _check(output)


def through(sandbox: DockerSandbox) -> Callable[[Path, Path], None]:
    """(b)/(c) the experiment through DockerSandbox."""

    def run(root: Path, workspace: Path) -> None:
        result = sandbox.run(RunRequest(workspace, root / "out", COMMAND, LIMITS, metric="ok"))
        if not result.succeeded:
            raise SystemExit(f"sandbox run failed: {result}")

    return run


def docker_cli(image: str) -> Callable[[Path, Path], None]:
    """(d) ``docker run --rm`` from the CLI with the same mounts and no network."""

    def run(root: Path, workspace: Path) -> None:
        copy, output = root / "cli-ws", root / "cli-out"
        shutil.copytree(workspace, copy)
        output.mkdir()
        os.chmod(output, 0o777)
        subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "-v", f"{copy}:/workspace",
             "-v", f"{output}:/output", "-w", "/workspace", "-e", "LABLOOP_OUTPUT=/output",
             image, "sh", "exp.sh"],
            check=True, stdout=subprocess.DEVNULL,
        )
        _check(output)

    return run


def measure(
    name: str, runs: int, how: Callable[[Path, Path], None], before: Callable[[], None] | None = None
) -> list[float]:
    """Wall-clock seconds of ``runs`` samples (``before`` runs untimed ahead of each)."""
    samples = []
    for i in range(runs + 1):  # the first sample warms caches and is dropped
        root = Path(tempfile.mkdtemp(prefix=f"labloop-bench-{name}-"))
        workspace = _workspace(root)
        if before is not None:
            before()
        started = time.perf_counter()
        how(root, workspace)
        elapsed = time.perf_counter() - started
        shutil.rmtree(root, ignore_errors=True)
        if i:
            samples.append(elapsed)
    return samples


def p90(samples: list[float]) -> float:
    """The 90th percentile."""
    return statistics.quantiles(samples, n=10)[-1]


def throughput(sandbox: DockerSandbox, parallel: int, total: int) -> float:
    """Experiments per second with ``parallel`` at once through ``sandbox``."""
    roots = [Path(tempfile.mkdtemp(prefix="labloop-bench-tp-")) for _ in range(total)]
    workspaces = [_workspace(root) for root in roots]
    run = through(sandbox)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(run, roots, workspaces))
    elapsed = time.perf_counter() - started
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
    return total / elapsed


def runtime_rows(client: Any, image: str, work: Path, runtime: str, runs: int) -> dict[str, list[float]]:
    """(b) and (c) under ``runtime``."""
    chosen = None if runtime == "runc" else runtime
    with (
        DockerSandbox(client, image=image, work_dir=work / "warm", pool_size=2, reap_interval_s=None,
                      runtime=chosen) as warm,
        DockerSandbox(client, image=image, work_dir=work / "cold", pool_size=0, reap_interval_s=None,
                      runtime=chosen) as cold,
    ):
        warm.prewarm(LIMITS)

        def refilled() -> None:
            warm.pool.wait_ready(image, LIMITS)
            time.sleep(0.2)  # let the refill's container start settle, as on an idle service

        return {
            f"(b) sandbox, warm pool, {runtime}": measure("warm", runs, through(warm), refilled),
            f"(c) sandbox, cold, {runtime}": measure("cold", runs, through(cold)),
        }


def main() -> None:
    """Run every measurement and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--throughput-runs", type=int, default=16)
    parser.add_argument("--runtimes", default="runc,runsc", help="runtimes to measure (b) and (c) under")
    args = parser.parse_args()
    settings = get_settings()
    client = connect()
    image = settings.sandbox_image
    work = Path(tempfile.mkdtemp(prefix="labloop-bench-sandbox-"))
    rows: dict[str, list[float]] = {"(a) bare subprocess": measure("bare", args.runs, bare)}
    available = set(client.info().get("Runtimes") or {})
    for runtime in args.runtimes.split(","):
        if runtime not in available:
            print(f"(runtime {runtime} is not registered with the engine: skipped)")
            continue
        rows.update(runtime_rows(client, image, work / runtime, runtime, args.runs))
    rows["(d) docker run --rm (CLI)"] = measure("cli", args.runs, docker_cli(image))
    base = statistics.median(rows["(a) bare subprocess"])
    print(f"\nOne trivial experiment end to end, {args.runs} runs each, {os.cpu_count()} CPUs\n")
    print("| path | median ms | p90 ms | overhead over (a), median ms | target |")
    print("|---|---:|---:|---:|---|")
    for name, samples in rows.items():
        overhead = statistics.median(samples) - base
        target = 0.060 if "warm" in name else 0.400 if "cold" in name else None
        verdict = "" if target is None else f"≤ {target * 1000:.0f} ms: {'met' if overhead <= target else 'MISSED'}"
        print(f"| {name} | {statistics.median(samples) * 1000:.0f} | {p90(samples) * 1000:.0f} "
              f"| {overhead * 1000:+.0f} | {verdict} |")

    with DockerSandbox(client, image=image, work_dir=work / "tp", pool_size=4, reap_interval_s=None) as tp:
        tp.prewarm(LIMITS)
        tp.pool.wait_ready(image, LIMITS)
        print(f"\nThroughput, {args.throughput_runs} experiments, warm pool of 4 (runc)\n")
        print("| at once | experiments/s |")
        print("|---:|---:|")
        for parallel in (1, 2, 4):
            tp.pool.wait_ready(image, LIMITS)
            print(f"| {parallel} | {throughput(tp, parallel, args.throughput_runs):.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
