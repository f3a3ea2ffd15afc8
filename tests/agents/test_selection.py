"""Selection that follows evidence: lucky, not-verified nodes do not starve untested ones or improving chains."""

from __future__ import annotations

from agents import tree
from agents.selection import evidence_value, fruitless, improve_order, streak
from agents.state import ROOT, Idea, Node, Verdict
from agents.task import parse_task

TASK = parse_task("""
name: circles
goal: pack 26 circles in a unit square, maximising the sum of radii
metric: {name: sum_radii, direction: maximize}
entrypoint: python3 experiment.py
search: {parallel: 2, drafts: 0, debug_prob: 0.0}
""")


def node(node_id: str, value: float | None, *, parent: str | None = ROOT, round_: int = 1, fate: str = "no_gain",
         verdict: Verdict | None = None, operator: str = "improve") -> Node:
    return Node(id=node_id, parent=parent, operator=operator, round=round_, debug_depth=0,  # type: ignore[typeddict-item]
                idea=Idea(title=node_id, hypothesis="", plan="", params={}, source="llm"), files={}, params={},
                diff="", explanation="", status="succeeded" if value is not None else "failed", value=value,
                metrics={}, error=None, output_tail="", experiment_id=None, fate=fate, summary="", lesson="",
                verdict=verdict, critique=None)


def lost(mean_gain: float, against: str = ROOT) -> Verdict:
    return Verdict(verified=False, mean_gain=mean_gain, stderr=0.02, n=3, reason="not verified", against=against,
                   pairs={}, baseline_pairs={}, baseline_gain=None)


def circle_packing_tree() -> list[Node]:
    """Round 1: A is lucky on seed 0 and loses its paired test; B beats the root. Rounds 2-3 expand A
    twice without gain (its children are still above everything else on seed 0), while B's line
    improves at every step."""
    return [
        node(ROOT, 2.50, parent=None, round_=0, fate="baseline", operator="root"),
        node("r1s0", 2.62, fate="not_verified", verdict=lost(-0.01)),
        node("r1s1", 2.56, fate="better_on_seed0"),
        node("r2s0", 2.61, parent="r1s0", round_=2, fate="better_on_seed0"),
        node("r2s1", 2.58, parent="r1s1", round_=2, fate="better_on_seed0"),
        node("r3s0", 2.605, parent="r1s0", round_=3, fate="better_on_seed0"),
        node("r3s1", 2.60, parent="r2s1", round_=3, fate="better_on_seed0"),
    ]


def test_a_fast_improving_chain_is_expanded_while_a_not_verified_node_expanded_without_gain_steps_aside() -> None:
    nodes = circle_packing_tree()
    # Ranked by seed 0 alone, A and A's children fill every slot and B's chain (root → r1s1 → r2s1 → r3s1),
    # each step better than its parent, is never built on.
    assert [n["id"] for n in tree.ranked(TASK, nodes, ROOT)][:3] == ["r1s0", "r2s0", "r3s0"]
    chosen = tree.select_expansions(TASK, job_id="j", round_=4, nodes=nodes, incumbent=ROOT, strategy="llm")
    parents = [e["parent"] for e in chosen]
    assert parents[0] == "r3s1", parents  # the chain's tip takes the first slot
    assert "r1s0" not in parents  # the lucky node, twice expanded without gain, does not take a slot
    assert len(set(parents)) == 2  # exploration: the slots climb from different parents
    one_slot = parse_task(TASK.model_dump_json().replace('"parallel":2', '"parallel":1'))
    assert [e["parent"] for e in tree.select_expansions(one_slot, job_id="j", round_=4, nodes=nodes,
                                                       incumbent=ROOT, strategy="llm")] == ["r3s1"]
    assert chosen == tree.select_expansions(TASK, job_id="j", round_=4, nodes=nodes, incumbent=ROOT,
                                            strategy="llm")  # deterministic


def test_the_evidence_terms_are_what_the_pairs_and_the_chain_say() -> None:
    nodes = circle_packing_tree()
    by_id = tree.by_id(nodes)
    assert evidence_value(TASK, by_id["r1s0"], by_id) == 2.50 - 0.01  # the incumbent's seed 0 plus the mean paired gain
    assert evidence_value(TASK, by_id["r1s1"], by_id) == 2.56  # never tested: its seed-0 value
    assert fruitless(TASK, by_id["r1s0"], nodes) == 2 and fruitless(TASK, by_id["r1s1"], nodes) == 0
    assert streak(TASK, by_id["r3s1"], by_id, cap=10) == 3 and streak(TASK, by_id["r3s0"], by_id, cap=10) == 0
    assert streak(TASK, by_id["r3s1"], by_id, cap=2) == 2


def test_a_node_best_on_its_pairs_but_not_significant_keeps_its_place_above_a_lucky_one() -> None:
    nodes = [node(ROOT, 0.80, parent=None, round_=0, fate="baseline", operator="root"),
             node("r1s0", 0.90, fate="not_verified", verdict=lost(-0.02)),  # lucky on seed 0; its pairs lost
             node("r2s0", 0.86, round_=2, fate="not_verified", verdict=lost(+0.03)),  # best on its pairs
             node("r2s1", 0.84, round_=2, fate="better_on_seed0")]
    order = [n["id"] for n in improve_order(TASK, nodes, ROOT)]
    assert order[:2] == ["r2s1", "r2s0"] and order.index("r1s0") > order.index(ROOT)


def test_a_minimised_metric_reads_the_evidence_in_its_own_direction() -> None:
    task = parse_task(TASK.model_dump_json().replace('"maximize"', '"minimize"'))
    nodes = [node(ROOT, 1.0, parent=None, round_=0, fate="baseline", operator="root"),
             node("r1s0", 0.5, fate="not_verified", verdict=lost(0.2)),  # 0.2 better than the root on its pairs
             node("r1s1", 0.9, fate="better_on_seed0")]
    assert evidence_value(task, tree.by_id(nodes)["r1s0"], tree.by_id(nodes)) == 0.8
    assert [n["id"] for n in improve_order(task, nodes, ROOT)] == ["r1s0", "r1s1", ROOT]
