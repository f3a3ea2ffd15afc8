"""What a paper may state: every number comes from the job's journal (its final state), by reference.

Prose never types a result; it writes a reference that this module renders:

    {{metric}} {{direction}} {{rule}}          the task's metric, its direction, the verification rule
    {{baseline}} {{best}}                        the baseline's and the incumbent's metric on seed 0
    {{node ID}} {{node ID NAME}}                 a node's metric (or its metric NAME) on seed 0
    {{title ID}}                                 a node's idea, in its own words
    {{gain ID}} {{ci ID}} {{n ID}}               a verified node's mean paired gain over the incumbent it
                                                 had to beat, its 95 % interval, and the pairs it spent
    {{overall ID}}                               its mean paired gain over the baseline
    {{rounds}} {{experiments}} {{findings}} {{nodes}}   how much the job did
    {{table results}} {{table findings}} {{table negative}} {{table ablations}}
    {{figure metric}} {{figure tree}} {{figure gains}} {{figure plots}}
    {{references}}

A reference that names nothing the journal holds renders as ``[unknown reference: …]`` and is
listed by the claim check, so a paper never shows a number nobody measured. Gains are signed so
that positive is better, whatever the metric's direction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from scipy import stats

from agents import tree
from agents.drafting import from_data
from agents.paper.review_form import Figure
from agents.report import ablation_table, cell, fmt
from agents.standing import standing
from agents.state import ROOT, Finding, Node, ResearchState, Verdict
from agents.task import Task
from agents.verify import RULE

REFERENCE = re.compile(r"\{\{\s*([^{}]{1,200}?)\s*\}\}")
CI_LEVEL = 0.95
FIGURES = ("metric", "tree", "gains", "plots")  # a figure the job has none of (no gains: nothing verified) is left out
UNKNOWN = "[unknown reference: {}]"


def interval(mean: float, stderr: float, n: int, level: float = CI_LEVEL) -> tuple[float, float] | None:
    """The two-sided ``level`` Student-t interval of a mean paired gain (None below two pairs)."""
    if n < 2:
        return None
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * stderr
    return mean - half, mean + half


@dataclass
class Journal:
    """The job's final state as the paper reads it. ``figures``: the figures written for the paper
    (by name: metric, tree, gains, and the template's plots); ``references``: the rendered list."""

    task: Task
    state: ResearchState
    figures: dict[str, list[Figure]] = field(default_factory=dict)
    references_md: str = "No literature was cited."

    def __post_init__(self) -> None:
        self.nodes: dict[str, Node] = tree.by_id(self.state.get("nodes", []))
        self.findings: dict[str, Finding] = {f["node"]: f for f in self.state.get("findings", [])}

    # -- facts -------------------------------------------------------------------------------
    @property
    def metric(self) -> str:
        return self.task.metric.name

    @property
    def from_data(self) -> bool:
        """The task had no baseline: the first draft that ran became the first incumbent."""
        return from_data(self.state.get("baseline") or {})

    @property
    def baseline_value(self) -> float | None:
        value = (self.state.get("baseline") or {}).get("value")
        return float(value) if isinstance(value, int | float) else None

    @property
    def incumbent(self) -> Node | None:
        return self.nodes.get(self.state.get("incumbent") or ROOT)

    @property
    def best_value(self) -> float | None:
        node = self.incumbent
        return node["value"] if node is not None else self.baseline_value

    @property
    def rounds(self) -> int:
        return max((n["round"] for n in self.nodes.values()), default=0)

    def verdict(self, node_id: str) -> Verdict | Finding | None:
        """A node's verification: its finding when it was verified, else its verdict (None: never checked)."""
        return self.findings.get(node_id) or (self.nodes[node_id]["verdict"] if node_id in self.nodes else None)

    def counts(self) -> set[int]:
        """The integers the journal counts (rounds, experiments, findings, nodes, pairs), for the claim check."""
        found = {self.rounds, len(self.state.get("experiments", [])), len(self.nodes), CI_LEVEL * 100,
                 len(self.state.get("findings", [])), self.task.budget.iterations, self.task.replicates,
                 self.task.max_replicates, self.task.search.parallel}
        for n in self.nodes.values():
            found.add(n["round"])
            v = n["verdict"]
            if v is not None:
                found.update({v["n"], v.get("replicates", v["n"])})
        return {int(c) for c in found}

    # -- references --------------------------------------------------------------------------
    def render(self, text: str) -> tuple[str, list[str]]:
        """``text`` with every reference rendered; also the references that named nothing."""
        unknown: list[str] = []

        def one(match: re.Match[str]) -> str:
            ref = match.group(1)
            value = self.resolve(ref)
            if value is None:
                unknown.append(ref)
                return UNKNOWN.format(ref)
            return value

        return REFERENCE.sub(one, text), unknown

    def resolve(self, ref: str) -> str | None:
        """One reference's text (None: it names nothing the journal holds)."""
        words = ref.split()
        head, args = words[0].lower(), words[1:]
        simple = {"metric": self.metric, "direction": self.task.metric.direction, "rule": RULE,
                  "baseline": fmt(self.baseline_value), "best": fmt(self.best_value),
                  "rounds": str(self.rounds), "experiments": str(len(self.state.get("experiments", []))),
                  "findings": str(sum(f["accepted"] for f in self.state.get("findings", []))),
                  "nodes": str(len(self.nodes)), "references": self.references_md}
        if not args:
            return simple.get(head)
        if head == "table" and len(args) == 1:
            return self.table(args[0])
        if head == "figure" and len(args) == 1:
            if args[0] not in FIGURES:
                return None
            return "\n\n".join(f"![{_alt(f.caption)}]({f.file})\n\n*Figure: {f.caption}*"
                               for f in self.figures.get(args[0], ()))
        node = self.nodes.get(args[0])
        if node is None:
            return None
        if head == "title" and len(args) == 1:
            return node["idea"]["title"]
        if head == "node" and len(args) in (1, 2):
            if len(args) == 1 or args[1] == self.metric:
                return fmt(node["value"])
            return fmt(node["metrics"][args[1]]) if args[1] in node["metrics"] else None
        verdict = self.verdict(args[0])
        if verdict is None or len(args) != 1:
            return None
        if head == "gain":
            return fmt(verdict["mean_gain"])
        if head == "n":
            return str(verdict["n"])
        if head == "overall":
            return fmt(verdict["baseline_gain"])
        if head == "ci":
            ci = interval(verdict["mean_gain"], verdict["stderr"], verdict["n"])
            return f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "— (one pair)"
        return None

    # -- tables ------------------------------------------------------------------------------
    def table(self, name: str) -> str | None:
        """A generated table (None: no such table)."""
        make = {"results": self._results, "findings": self._findings, "negative": self._negative,
                "ablations": self._ablations}.get(name)
        return None if make is None else "\n".join(make())

    def _results(self) -> list[str]:
        m = self.metric
        first = "first incumbent (a draft)" if self.from_data else "baseline (the task as given)"
        rows = [f"| solution | node | {m} (seed 0) | mean paired gain over the baseline | pairs |", "|---|---|---|---|---|",
                f"| {first} | {self.state.get('baseline', {}).get('node') or ROOT} | {fmt(self.baseline_value)} | — | — |"]
        node = self.incumbent
        if node is not None and node["id"] != ROOT and tree.has_solution(node):
            v = self.verdict(node["id"])
            gain = f"{fmt(v['baseline_gain'])}" if v is not None else "—"
            pairs = len(v["baseline_pairs"]) if v is not None else "—"
            rows.append(f"| best verified: {cell(node['idea']['title'])} | {node['id']} | {fmt(node['value'])} | "
                        f"{gain} | {pairs} |")
        seen = standing(self.task, self.state)["best_seen"]
        if seen and seen.get("node") not in (None, ROOT, node["id"] if node else None):
            rows.append(f"| best seen, not verified: {cell(seen.get('title', ''))} | {seen['node']} | "
                        f"{fmt(seen.get('value'))} | — | — |")
        return rows

    def _findings(self) -> list[str]:
        findings = self.state.get("findings", [])
        if not findings:
            return ["No change was verified."]
        rows = ["| round | node | idea | against | mean paired gain | 95% interval | pairs | over the baseline | "
                "accepted |", "|---|---|---|---|---|---|---|---|---|"]
        critiques = []
        for f in findings:
            ci = interval(f["mean_gain"], f["stderr"], f["n"])
            rows.append(f"| {f['iteration']} | {f['node']} | {cell(f['title'])} | {f['against']} | {fmt(f['mean_gain'])} | "
                        f"{'[' + fmt(ci[0]) + ', ' + fmt(ci[1]) + ']' if ci else '—'} | {f['n']} | "
                        f"{fmt(f['baseline_gain'])} | {'yes' if f['accepted'] else 'no: ' + cell(f['reason'])} |")
            critique = f["critique"]
            if critique:
                critiques.append(f"- **{f['node']}**: soundness: {_line(critique['soundness'])}; confounds: "
                                 f"{_line('; '.join(critique['confounds'])) or 'none named'}; suggested ablation: "
                                 f"{_line(critique['ablation']) or 'none'}; flaw: {_line(critique['flaw']) or 'none named'}.")
        return rows + (["", "The critique of each finding (the model's, before a human decided):", "", *critiques]
                       if critiques else [])

    def _negative(self) -> list[str]:
        contenders = standing(self.task, self.state)["contenders"]
        if not contenders:
            return ["No change looked better on seed 0 without being verified."]
        rows = [f"| node | idea | {self.metric} (seed 0) | pairs spent | mean paired gain | why not verified |",
                "|---|---|---|---|---|---|"]
        rows += [f"| {c['node']} | {cell(c['title'])} | {fmt(c['value'])} | {c['replicates']} | {fmt(c['mean_gain'])} | "
                 f"{cell(c['why'])} |" for c in contenders]
        return rows

    def _ablations(self) -> list[str]:
        return ablation_table(self.task, self.state) or ["No ablation ran."]

    # -- the model's view --------------------------------------------------------------------
    def fact_sheet(self, limit: int = 40) -> str:
        """The references prose may use, with what each renders to now (shown to the model)."""
        lines = [f"{{{{metric}}}} = {self.metric} ({self.task.metric.direction})",
                 f"{{{{baseline}}}} = {fmt(self.baseline_value)}: "
                 + ("the first incumbent (a draft; the task had no baseline)" if self.from_data else "the baseline")
                 + " on seed 0",
                 f"{{{{best}}}} = {fmt(self.best_value)}: the best verified solution (the incumbent, node "
                 f"{self.state.get('incumbent') or ROOT}) on seed 0",
                 f"{{{{rounds}}}} = {self.rounds}, {{{{experiments}}}} = {len(self.state.get('experiments', []))}, "
                 f"{{{{findings}}}} = {self.resolve('findings')}, {{{{nodes}}}} = {len(self.nodes)}"]
        ranked = sorted((n for n in self.nodes.values() if n["id"] != ROOT),
                        key=lambda n: (self.verdict(n["id"]) is None, n["round"]))
        for n in ranked[:limit]:
            line = (f"{{{{node {n['id']}}}}} = {fmt(n['value'])}: {{{{title {n['id']}}}}} = {n['idea']['title']!r} "
                    f"({n['operator']} of "
                    f"{n['parent']}, round {n['round']}, fate {n['fate']})")
            if self.verdict(n["id"]) is not None:
                line += (f"; {{{{gain {n['id']}}}}} = {self.resolve('gain ' + n['id'])}, {{{{ci {n['id']}}}}} = "
                         f"{self.resolve('ci ' + n['id'])}, {{{{n {n['id']}}}}} = {self.resolve('n ' + n['id'])}, "
                         f"{{{{overall {n['id']}}}}} = {self.resolve('overall ' + n['id'])}")
            lines.append(line)
        if len(ranked) > limit:
            lines.append(f"({len(ranked) - limit} more nodes, none verified, are not listed)")
        return "\n".join(lines)

    def evidence(self) -> str:
        """The findings and decisions as JSON (for the model's prose and the reviewers)."""
        kept = [{k: f.get(k) for k in ("iteration", "node", "title", "hypothesis", "summary", "accepted", "against")}
                | {"critique": f.get("critique")} for f in self.state.get("findings", [])]
        return json.dumps(kept, indent=1)[:8000]


def _line(text: str) -> str:
    return " ".join(str(text).split())


def _alt(text: str) -> str:
    return re.sub(r"[\[\]\n]", " ", text)


def figure_captions(figures: Mapping[str, Sequence[Figure]]) -> list[Figure]:
    """Every figure, in the paper's order."""
    return [f for name in FIGURES for f in figures.get(name, ())]
