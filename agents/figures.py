"""The report's figures: the metric over rounds, and the tree of solutions coloured by fate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.state import Node, Run
from agents.task import Task

FATE_COLOURS = {"baseline": "#777777", "verified": "#2ca02c", "improved": "#98df8a", "not_verified": "#ffbb78",
                "no_gain": "#aec7e8", "failed": "#d62728", "rejected": "#9467bd", "proposed": "#cccccc",
                "adopted": "#1f77b4", "no_solution": "#dddddd"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metric(task: Task, experiments: Sequence[Run], path: Path) -> None:
    """Plot the metric of every seed-0 run over rounds, with the baseline and the running best."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    runs = [e for e in experiments if e["role"] in ("baseline", "candidate", "debug") and e["seed"] == 0]
    ok = [(e["iteration"], e["value"]) for e in runs if e["value"] is not None]
    failed = [e["iteration"] for e in runs if e["value"] is None]
    fig, ax = plt.subplots(figsize=(7, 4))
    if ok:
        ax.plot([i for i, _ in ok], [v for _, v in ok], "o", label="experiment")
        first = "baseline" if runs[0]["role"] == "baseline" else "first solution"  # a task that started from data
        ax.axhline(ok[0][1], color="grey", linestyle="--", label=first)
        best, running = ok[0][1], []
        for _, value in ok:
            best = value if value is not None and best is not None and task.metric.better(value, best) else best
            running.append(best)
        ax.step([i for i, _ in ok], running, where="post", label="best so far")
    if failed:
        ax.plot(failed, [ok[0][1] if ok else 0.0] * len(failed), "x", color="red", label="failed run")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("round")
    ax.set_ylabel(f"{task.metric.name} ({task.metric.direction})")
    ax.set_title(f"{task.name}: {task.metric.name} over rounds")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_tree(nodes: Sequence[Node], incumbent: str, path: Path) -> None:
    """Draw the tree (root on the left, one column per round), each node coloured by its fate."""
    plt = _pyplot()
    from matplotlib.patches import Patch

    rows: dict[int, int] = {}
    where: dict[str, tuple[float, float]] = {}
    for node in sorted(nodes, key=lambda n: (n["round"], n["id"])):
        row = rows.get(node["round"], 0)
        rows[node["round"]] = row + 1
        where[node["id"]] = (float(node["round"]), -float(row))
    height = max([*rows.values(), 1])
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * (len(rows) + 1)), max(3.0, 1.1 * height + 1.5)))
    for node in nodes:
        if node["parent"] in where:
            (x0, y0), (x1, y1) = where[node["parent"]], where[node["id"]]
            ax.plot([x0, x1], [y0, y1], color="#999999", linewidth=1, zorder=1)
    for node in nodes:
        x, y = where[node["id"]]
        ax.scatter([x], [y], s=420, color=FATE_COLOURS.get(node["fate"], "#cccccc"), zorder=2,
                   edgecolors="black" if node["id"] == incumbent else "none", linewidths=2)
        ax.annotate(f"{node['id']}\n{node['operator']}", (x, y), ha="center", va="center", fontsize=6, zorder=3)
    used = sorted({n["fate"] for n in nodes})
    ax.legend(handles=[Patch(color=FATE_COLOURS.get(f, "#cccccc"), label=f) for f in used], loc="upper left",
              bbox_to_anchor=(1.0, 1.0), fontsize=7, title="fate (black ring: incumbent)", title_fontsize=7)
    ax.set_xlabel("round")
    ax.set_yticks([])
    ax.set_ylim(-height + 0.4, 0.6)
    ax.set_xlim(-0.5, max(rows) + 0.5)
    ax.set_title("tree of solutions")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
