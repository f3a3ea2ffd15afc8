"""The tree of solutions: reading it (ranking, the incumbent, lessons) and the selection policy.

**Selection policy** (:func:`select_expansions`, one call per round, deterministic for a job id):
for each of the round's ``search.parallel`` slots, in order,

1. *draft* — while the tree has fewer than ``search.drafts`` drafts (strategy llm), a new
   approach from the root;
2. *debug* — with probability ``search.debug_prob`` (a draw seeded by job, round and slot),
   the newest failed node that has no child yet and fewer than ``search.max_debug_depth``
   debug steps above it is repaired from its own files (strategy llm: search cannot repair);
3. *improve* — best-first with exploration: slot *k* takes the *k*-th best node not yet
   chosen this round, ranked by the metric on seed 0 and, among equals, the newer node first
   (it carries more work: a change that pays off only with a later one is built on, not
   dropped), so parallel slots explore different parents while a single slot climbs from
   the best;
   when no node has run and been graded yet (a task that starts from data, whose root is
   "no solution yet"), the slot drafts instead: every slot of the first round drafts, and a
   round after drafts that all failed drafts again or debugs one of them;
4. *ablate* (strategy llm) — once per new incumbent whose change from its parent has two or
   more parts (files or params), the first slot of the next round reverts the first part of
   that change, to attribute the gain; the ablation is a node like any other and is reported.

A *duplicate* (a node that took an earlier node's run, agents/duplicates.py) is never a parent
for improve or debug: the original, which holds the same content, is expanded instead.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence

from agents.duplicates import is_duplicate
from agents.state import ROOT, Expansion, Json, Node, Operator
from agents.task import Task


def by_id(nodes: Sequence[Node]) -> dict[str, Node]:
    """The nodes keyed by id."""
    return {n["id"]: n for n in nodes}


def node_id(round_: int, slot: int) -> str:
    """The deterministic id of the node a round's slot makes."""
    return f"r{round_}s{slot}"


def ranked(task: Task, nodes: Sequence[Node], incumbent: str) -> list[Node]:
    """Succeeded nodes, best first: metric on seed 0 (to 12 significant digits, so float noise such
    as a 4.5e-14 difference is a tie), then the newer node, then the incumbent."""
    ok = [n for n in nodes if n["status"] == "succeeded" and n["value"] is not None]
    sign = 1.0 if task.metric.direction == "maximize" else -1.0
    return sorted(ok, key=lambda n: (-sign * float(f"{float(n['value'] or 0.0):.12g}"), -n["round"],
                                     n["id"] != incumbent, n["id"]))


def has_solution(node: Node | None) -> bool:
    """False for the root of a task that starts from data (its status is ``empty``)."""
    return node is not None and node["status"] != "empty"


def _rng(job_id: str, round_: int, slot: int) -> random.Random:
    digest = hashlib.sha256(f"{job_id}/select/{round_}/{slot}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _debuggable(nodes: Sequence[Node], max_depth: int, taken: set[str]) -> Node | None:
    parents = {n["parent"] for n in nodes}
    failed = [n for n in nodes if n["status"] == "failed" and n["id"] not in parents and n["id"] not in taken
              and n["debug_depth"] < max_depth and n["files"] and not is_duplicate(n)]
    return max(failed, key=lambda n: (n["round"], n["id"])) if failed else None


def _ablation_due(nodes: Sequence[Node], incumbent: str) -> bool:
    """The incumbent's change has two or more parts and no ablation of it was made yet."""
    tree = by_id(nodes)
    if incumbent == ROOT or incumbent not in tree:
        return False
    if tree[incumbent]["parent"] == ROOT and not has_solution(tree.get(ROOT)):
        return False  # a draft from no solution is all one part: reverting its files leaves nothing to run
    if any(n["operator"] == "ablate" and n["parent"] == incumbent for n in nodes):
        return False
    return len(ablate_parts(tree.get(tree[incumbent]["parent"] or ""), tree[incumbent])) >= 2


def select_expansions(task: Task, *, job_id: str, round_: int, nodes: Sequence[Node], incumbent: str,
                      strategy: str) -> list[Expansion]:
    """The round's expansions, one per parallel slot, by the policy in this module's docstring."""
    search = task.search
    max_depth = search.max_debug_depth if search.max_debug_depth is not None else task.budget.debug_attempts
    best_first = [n for n in ranked(task, nodes, incumbent) if not is_duplicate(n)]
    taken: set[str] = set()
    drafts = sum(1 for n in nodes if n["operator"] == "draft")
    out: list[Expansion] = []
    for slot in range(search.parallel):
        rng = _rng(job_id, round_, slot)
        operator: Operator
        if slot == 0 and strategy == "llm" and _ablation_due(nodes, incumbent):
            operator, parent = "ablate", incumbent
        elif strategy == "llm" and drafts < search.drafts:
            operator, parent = "draft", ROOT
            drafts += 1
        elif strategy == "llm" and rng.random() < search.debug_prob and (
                failed := _debuggable(nodes, max_depth, taken)) is not None:
            operator, parent = "debug", failed["id"]
        elif best_first:
            choices = [n for n in best_first if n["id"] not in taken] or best_first
            operator, parent = "improve", choices[0]["id"]
        else:  # nothing ran and was graded yet: the task starts from data
            operator, parent = "draft", ROOT
            drafts += 1
        taken.add(parent)
        out.append(Expansion(node=node_id(round_, slot), round=round_, slot=slot, operator=operator,
                             parent=parent, proposal=None))
    return out


def told(nodes: Sequence[Node]) -> list[tuple[Json, float | None]]:
    """The points the sampler is told, in the order they ran: each node's params with its value
    on seed 0, or None when its run failed. Rejected nodes ran nothing and are left out."""
    return [(n["params"], None if n["value"] is None else float(n["value"])) for n in nodes
            if n["params"] and (n["value"] is not None or n["status"] == "failed")]


def lessons(nodes: Sequence[Node]) -> list[str]:
    """This job's lessons so far, oldest first, one line each with the node that taught it."""
    return [f"{n['id']} ({n['idea']['title']}): {n['lesson']}" for n in nodes if n["lesson"]]


def summary(task: Task, nodes: Sequence[Node], incumbent: str, *, recent_failures: int = 3,
            top: int = 5) -> str:
    """A short text of the tree: the best nodes, the incumbent, and recent failures with their errors."""
    metric = task.metric.name
    tree = by_id(nodes)
    lines = [f"{len(nodes)} node(s); incumbent {incumbent}"
             + (f" ({metric} = {tree[incumbent]['value']:.6g})" if incumbent in tree and
                tree[incumbent]["value"] is not None else "")]
    if not has_solution(tree.get(incumbent)):
        lines[0] = f"{len(nodes)} node(s); no solution yet: the task started from data and no draft has run and been graded"
    for n in ranked(task, nodes, incumbent)[:top]:
        lines.append(f"- {n['id']} ← {n['parent'] or '-'} [{n['operator']}] {n['idea']['title']}: "
                     f"{metric} = {n['value']:.6g} ({n['fate']})")
    failed = [n for n in nodes if n["status"] == "failed"][-recent_failures:]
    for n in failed:
        lines.append(f"- {n['id']} ← {n['parent'] or '-'} [{n['operator']}] {n['idea']['title']}: FAILED "
                     f"({(n['error'] or 'no error text')[:160]})")
    rejected = [n for n in nodes if n["status"] == "rejected"][-recent_failures:]
    lines += [f"- {n['id']} [{n['operator']}] {n['idea']['title']}: rejected by a human" for n in rejected]
    return "\n".join(lines)


def full_files(task_files: Mapping[str, str], node: Node | None) -> dict[str, str]:
    """A node's whole workspace text: the task's source files with the node's changed files over them."""
    return {**task_files, **(node["files"] if node else {})}


def ablate_parts(parent: Node | None, incumbent: Node) -> list[tuple[str, Json]]:
    """The separately revertible parts of the incumbent's change from its parent.

    Each is ``(description, {"files": ..., "params": ...})``: the incumbent with one changed file
    or one changed param put back as the parent had it.
    """
    before_files = parent["files"] if parent else {}
    before_params = parent["params"] if parent else {}
    parts: list[tuple[str, Json]] = []
    for rel in sorted(set(incumbent["files"]) | set(before_files)):
        if incumbent["files"].get(rel) != before_files.get(rel):
            files = dict(incumbent["files"])
            if rel in before_files:
                files[rel] = before_files[rel]
            else:
                files.pop(rel, None)
            parts.append((f"revert {rel}", {"files": files, "params": dict(incumbent["params"])}))
    for key in sorted(set(incumbent["params"]) | set(before_params)):
        if incumbent["params"].get(key) != before_params.get(key):
            params = dict(incumbent["params"])
            if key in before_params:
                params[key] = before_params[key]
            else:
                params.pop(key, None)
            parts.append((f"revert param {key}", {"files": dict(incumbent["files"]), "params": params}))
    return parts
