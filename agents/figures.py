"""The report's figures: the metric over rounds, and the tree of solutions coloured by fate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.state import ROOT, Node, Run
from agents.task import Task

FATE_COLOURS = {"baseline": "#777777", "verified": "#2ca02c", "better_on_seed0": "#98df8a", "not_verified": "#ffbb78",
                "no_gain": "#aec7e8", "failed": "#d62728", "rejected": "#9467bd", "proposed": "#cccccc",
                "adopted": "#1f77b4", "no_solution": "#dddddd", "duplicate": "#ffffff"}


def _fate_kind(fate: str) -> str:
    """A fate without its subject: "duplicate of r1s0" is one legend entry, "duplicate"."""
    return fate.split(" of ", 1)[0]


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


Point = tuple[float, float]
Segment = tuple[Point, Point]


def tree_layout(nodes: Sequence[Node]) -> dict[str, Point]:
    """Each node's place: x its round, one row per node in depth-first order (children by round, id).

    A subtree fills consecutive rows below its root and children lie in later rounds, so the elbow
    edges of ``tree_edges`` never cross, however large the tree."""
    children: dict[str | None, list[Node]] = {}
    known = {n["id"] for n in nodes}
    for node in sorted(nodes, key=lambda n: (n["round"], n["id"])):
        parent = node["parent"] if node["parent"] in known else None
        children.setdefault(parent, []).append(node)
    where: dict[str, Point] = {}
    stack = [(n, -1.0) for n in reversed(children.get(None, []))]
    while stack:
        node, parent_x = stack.pop()
        x = max(float(node["round"]), parent_x + 1.0)  # a child always stands right of its parent
        where[node["id"]] = (x, -float(len(where)))
        stack.extend((child, x) for child in reversed(children.get(node["id"], [])))
    return where


def tree_edges(nodes: Sequence[Node], where: dict[str, Point]) -> list[Segment]:
    """The edges as segments: down the parent's column to the child's row, then across to the child."""
    segments: list[Segment] = []
    for node in nodes:
        if node["parent"] in where:
            (px, py), (cx, cy) = where[node["parent"] or ""], where[node["id"]]
            segments += [((px, py), (px, cy)), ((px, cy), (cx, cy))]
    return segments


def _label(node: Node) -> str:
    value = "—" if node["value"] is None else f"{node['value']:.4g}"
    value = "failed" if node["status"] == "failed" else value
    title = "baseline" if node["id"] == ROOT else node["idea"]["title"]
    title = title if len(title) <= 32 else title[:31] + "…"
    return f"{node['id']}  {value}  ·  {node['operator']}: {title}"


def plot_tree(nodes: Sequence[Node], incumbent: str, path: Path) -> None:
    """Draw the tree (rounds left to right, one row per node), each node coloured by its fate, its
    metric on seed 0 in its label beside it; the incumbent ringed in black."""
    plt = _pyplot()
    from matplotlib.patches import Patch

    where = tree_layout(nodes)
    rounds = max([int(x) for x, _ in where.values()] + [1])
    fig, ax = plt.subplots(figsize=(5.2 + min(1.1 * rounds, 0.45 * rounds + 7.0), 1.4 + 0.3 * max(len(where), 3)))
    for (x0, y0), (x1, y1) in tree_edges(nodes, where):
        ax.plot([x0, x1], [y0, y1], color="#9a9a9a", linewidth=1, zorder=1, solid_capstyle="butt")
    for node in nodes:
        x, y = where[node["id"]]
        best = node["id"] == incumbent
        ax.scatter([x], [y], s=110 if best else 70, color=FATE_COLOURS.get(_fate_kind(node["fate"]), "#cccccc"),
                   zorder=2,
                   edgecolors="black", linewidths=2.0 if best else 0.6)
        ax.annotate(_label(node) + ("  (incumbent)" if best else ""), (x, y), xytext=(8, 0),
                    textcoords="offset points", ha="left", va="center", fontsize=8, zorder=3,
                    fontweight="bold" if best else "normal")
    used = sorted({_fate_kind(n["fate"]) for n in nodes})
    ax.legend(handles=[Patch(color=FATE_COLOURS.get(f, "#cccccc"), label=f) for f in used], loc="upper right",
              fontsize=7, title="fate (black ring: incumbent)", title_fontsize=7, framealpha=0.9)
    ax.set_xlabel("round")
    ax.set_xticks(range(rounds + 1))
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_ylim(-len(where) + 0.4, 0.8)
    ax.set_xlim(-0.3, rounds + 3.2)  # room for the last round's labels
    ax.set_title("tree of solutions: each node's metric on seed 0")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


Gain = tuple[str, float, tuple[float, float] | None, bool]  # label, mean paired gain, 95 % interval, verified


def plot_gains(metric: str, gains: Sequence[Gain], path: Path) -> None:
    """The mean paired gain of each verified (and each refused) candidate with its 95 % interval."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(len(gains), 2) + 1.5))
    for y, (_label, mean, ci, verified) in enumerate(gains):
        colour = FATE_COLOURS["verified" if verified else "not_verified"]
        err = [[mean - ci[0]], [ci[1] - mean]] if ci else None
        ax.errorbar([mean], [y], xerr=err, fmt="o", color=colour, ecolor=colour, capsize=4)
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(gains)), [g[0] for g in gains])
    ax.invert_yaxis()
    ax.set_xlabel(f"mean paired gain in {metric} (positive is better), 95% interval")
    ax.set_title("paired gains: verified (green), refused (orange)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
