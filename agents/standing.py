"""Where a job stands: the best result *seen* (on the screening seed) beside the best *verified*.

A node can score best on seed 0 and still not be the incumbent: its verification refused it
(too few pairs beat the incumbent, a failed replicate) or another node of its round was the
one verified. :func:`standing` says which, with the rule's numbers, so a reader never
mistakes a lucky seed for a finding nor wonders why a higher number was not kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from agents import tree
from agents.state import ROOT, Json, Node, ResearchState
from agents.task import Task
from agents.verify import beats


class Contender(TypedDict):
    """A node that beats the incumbent on seed 0 but is not verified, and why."""

    node: str
    title: str
    value: float | None  # the metric on seed 0
    fate: str
    why: str
    replicates: int  # pairs its verification spent (0: never verified)
    mean_gain: float | None
    bound: float | None
    tolerance: float | None
    pairs: dict[str, Json]


class Standing(TypedDict):
    """The best seen, the best verified, and the unverified contenders between them."""

    best_seen: Json  # {"node", "title", "value", "metrics", "params", "experiment_id"}
    best_verified: Json
    contenders: list[Contender]


def _brief(node: Node | None) -> Json:
    if node is None:
        return {}
    return {"node": node["id"], "title": node["idea"]["title"], "value": node["value"], "metrics": node["metrics"],
            "params": node["params"], "experiment_id": node["experiment_id"]}


def _why(node: Node) -> str:
    verdict = node["verdict"]
    if verdict is not None and verdict["verified"] and node["fate"] == "rejected":
        return f"a human rejected the finding ({verdict['reason']})"
    if verdict is not None:
        return verdict["reason"]
    if node["fate"] == "proposed":
        return "not judged yet: its round has not concluded"
    return (f"not verified: in round {node['round']} it beat the incumbent of the time on seed 0, but another node "
            "was the one verified, or it did not beat that incumbent by more than the tolerance")


def standing(task: Task, state: ResearchState) -> Standing:
    """The job's best seen and best verified nodes, and each unverified contender with why."""
    nodes: Sequence[Node] = state.get("nodes", [])
    incumbent_id = state.get("incumbent", ROOT)
    by_id = tree.by_id(nodes)
    incumbent = by_id.get(incumbent_id)
    ranked = tree.ranked(task, nodes, incumbent_id)
    best_seen = ranked[0] if ranked else incumbent
    floor = float(incumbent["value"]) if incumbent is not None and incumbent["value"] is not None else None
    contenders: list[Contender] = []
    for node in ranked:
        if node["id"] in (incumbent_id, ROOT) or node["fate"] == "verified":
            continue
        if floor is not None and not beats(task, float(node["value"] or 0.0), floor):
            break  # ranked best first: the rest do not beat the incumbent either
        verdict = node["verdict"]
        contenders.append(Contender(
            node=node["id"], title=node["idea"]["title"], value=node["value"], fate=node["fate"], why=_why(node),
            replicates=int(verdict.get("replicates", verdict["n"])) if verdict else 0,
            mean_gain=verdict["mean_gain"] if verdict else None, bound=verdict.get("bound") if verdict else None,
            tolerance=verdict.get("tolerance") if verdict else None, pairs=verdict["pairs"] if verdict else {}))
    return Standing(best_seen=_brief(best_seen), best_verified=_brief(incumbent), contenders=contenders)
