"""The order in which ``improve`` slots take their parents: seed-0 value corrected by the evidence.

Ranking by the metric on seed 0 alone starves good work: a node that was lucky on seed 0 and
then lost its paired test against the incumbent (``not_verified``) stays on top and is
expanded round after round, while a chain whose every step beat its parent is never built on
(seen on circle packing: the chain that reached the optimum fastest was never expanded).
:func:`improve_order` ranks by what is known about each node:

1. **Evidence value.** A node tested against the incumbent and not verified is valued at
   what its pairs say, the incumbent's seed-0 value plus the mean paired gain (on the metric's
   seed-0 scale), not at its own seed-0 value; every other node at its seed-0 value. So a node
   that is best on its pairs but not (yet) significant keeps its place, and one whose pairs
   show no gain falls to about the incumbent it failed to beat.
2. **Position** *p*: the place in that order (0 = best; among equals the newer node first,
   then the incumbent, then the id, so the order is deterministic).
3. **Priority** = *p* + ``search.stale_penalty`` × *fruitless* − ``search.chain_bonus`` ×
   *streak*, lowest first (ties by *p*), where *fruitless* counts the node's ``improve``
   children that failed or did not beat it on seed 0 (a node expanded again and again without
   gain steps aside), and *streak* counts the consecutive steps ending at the node that each
   beat their parent on seed 0 (capped at ``search.chain_cap``: a fast-improving chain is
   built on). Both are counted in rank places, so the policy does not depend on the metric's
   scale. "Beat" is :func:`agents.verify.beats`: better by more than the task's tolerance
   (``min_gain``), as in the fates and the screening.

Exploration stays as before: slot *k* takes the *k*-th node of this order not yet chosen in
the round, so parallel slots climb from different parents.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.state import Node
from agents.task import Task
from agents.verify import beats


def evidence_value(task: Task, node: Node, tree: dict[str, Node]) -> float:
    """The node's value on the seed-0 scale, corrected by its paired test when it failed one."""
    value = float(node["value"] or 0.0)
    verdict = node["verdict"]
    if verdict is None or verdict["verified"] or node["fate"] != "not_verified":
        return value
    against = tree.get(verdict["against"])
    if against is None or against["value"] is None or verdict["n"] < 1:
        return value
    sign = 1.0 if task.metric.direction == "maximize" else -1.0
    return float(against["value"]) + sign * float(verdict["mean_gain"])


def fruitless(task: Task, node: Node, nodes: Sequence[Node]) -> int:
    """How many times the node was improved without a child that beat it on seed 0."""
    own = float(node["value"] or 0.0)
    return sum(1 for n in nodes if n["parent"] == node["id"] and n["operator"] == "improve"
               and n["status"] != "rejected"
               and (n["value"] is None or not beats(task, float(n["value"]), own)))


def streak(task: Task, node: Node, tree: dict[str, Node], cap: int) -> int:
    """Consecutive steps up from the node, each better than its parent on seed 0 (at most ``cap``)."""
    steps, child = 0, node
    while steps < cap and child["parent"] is not None and (parent := tree.get(child["parent"])) is not None:
        if parent["value"] is None or child["value"] is None or \
                not beats(task, float(child["value"]), float(parent["value"])):
            break
        steps, child = steps + 1, parent
    return steps


def improve_order(task: Task, nodes: Sequence[Node], incumbent: str) -> list[Node]:
    """Succeeded nodes in the order ``improve`` slots take them (see this module's docstring)."""
    search, tree = task.search, {n["id"]: n for n in nodes}
    ok = [n for n in nodes if n["status"] == "succeeded" and n["value"] is not None]
    sign = 1.0 if task.metric.direction == "maximize" else -1.0
    by_evidence = sorted(ok, key=lambda n: (-sign * evidence_value(task, n, tree), -n["round"],
                                            n["id"] != incumbent, n["id"]))
    priority = {n["id"]: (position + search.stale_penalty * fruitless(task, n, nodes)
                          - search.chain_bonus * streak(task, n, tree, search.chain_cap), position)
                for position, n in enumerate(by_evidence)}
    return sorted(by_evidence, key=lambda n: priority[n["id"]])
