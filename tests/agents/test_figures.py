"""The report's tree figure: a layout whose edges never cross, labels that carry each node's metric."""

from __future__ import annotations

import random
from pathlib import Path

from agents.figures import plot_tree, tree_edges, tree_layout
from agents.state import ROOT, Node
from tests.agents.test_tree_parts import ROOT_NODE, node


def random_tree(size: int, seed: int) -> list[Node]:
    """A tree as a job grows one: each round, a few nodes expand earlier ones (failures included)."""
    rng = random.Random(seed)
    nodes = [ROOT_NODE]
    round_ = 0
    while len(nodes) < size:
        round_ += 1
        for slot in range(min(rng.randint(1, 3), size - len(nodes))):
            parent = rng.choice([n for n in nodes if n["round"] < round_])
            value = None if rng.random() < 0.2 else rng.uniform(0.5, 0.9)
            nodes.append(node(f"r{round_}s{slot}", parent=parent["id"], round_=round_, value=value))
    return nodes


def crossings(nodes: list[Node], where: dict[str, tuple[float, float]]) -> list[tuple[str, str]]:
    """Pairs of edges (named by their child) where a horizontal run crosses another's vertical run."""
    parts = []  # (child, parent, horizontal?, segment)
    for child in nodes:
        for seg in tree_edges([child], where):
            parts.append((child["id"], child["parent"], seg[0][1] == seg[1][1], seg))
    found = []
    for c1, p1, flat1, ((ax, ay), (bx, _)) in parts:
        for c2, p2, flat2, ((cx, cy), (_, dy)) in parts:
            if not flat1 or flat2 or p1 == p2:
                continue  # siblings share their parent's column
            if min(ax, bx) < cx < max(ax, bx) and min(cy, dy) < ay < max(cy, dy):
                found.append((c1, c2))
    return found


def test_trees_of_fifty_nodes_are_drawn_without_crossing_edges() -> None:
    for seed in range(20):
        nodes = random_tree(50, seed)
        where = tree_layout(nodes)
        assert len(where) == 50 and len({y for _, y in where.values()}) == 50  # a row each: labels never collide
        assert crossings(nodes, where) == [], seed
        for n in nodes:  # rounds run left to right, a child right of its parent
            if n["parent"]:
                assert where[n["id"]][0] > where[n["parent"]][0]


def test_a_layout_by_rounds_crosses_and_the_check_sees_it() -> None:
    # The check can fail: rows given by arrival (as the former layout did) cross on this small tree.
    nodes = [ROOT_NODE, node("r1s0", round_=1), node("r2s0", parent="r1s0", round_=2), node("r3s0", round_=3)]
    by_arrival = {ROOT: (0.0, 0.0), "r1s0": (1.0, -3.0), "r2s0": (2.0, -1.0), "r3s0": (3.0, -2.0)}
    assert crossings(nodes, by_arrival) == [("r3s0", "r2s0")]
    assert crossings(nodes, tree_layout(nodes)) == []


def test_the_figure_is_written_with_each_nodes_metric(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    nodes = random_tree(50, 1)
    texts: list[str] = []
    real_close = plt.close

    def keep_texts(fig: object) -> None:
        texts.extend(t.get_text() for ax in fig.axes for t in ax.texts)  # type: ignore[attr-defined]
        real_close(fig)

    plt.close = keep_texts  # type: ignore[assignment]
    try:
        plot_tree(nodes, "r2s0", tmp_path / "tree.png")
    finally:
        plt.close = real_close  # type: ignore[assignment]
    assert (tmp_path / "tree.png").stat().st_size > 10_000
    for n in nodes:
        label = next(t for t in texts if t.startswith(n["id"] + " "))
        assert ("failed" if n["value"] is None else f"{n['value']:.4g}") in label
    assert any("(incumbent)" in t and t.startswith("r2s0 ") for t in texts)
    assert any(t.startswith(ROOT + " ") and "baseline" in t for t in texts)
