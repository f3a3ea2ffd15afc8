"""The job's Markdown report, with its figures (the metric over rounds, the tree of solutions)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents import tree
from agents.drafting import from_data
from agents.figures import plot_metric, plot_tree
from agents.standing import standing
from agents.state import ROOT, Finding, Node, ResearchState, Run
from agents.task import Task
from agents.verify import IDENTICAL, RULE, identical_replicates

PLOT_FILE = "metric.png"
TREE_FILE = "tree.png"


def write_report(task: Task, state: ResearchState, job_dir: Path, *, plots: Sequence[str] = (),
                 plot_error: str = "") -> Path:
    """Write ``report.md`` and its figures under ``job_dir``; return the report's path. ``plots``:
    an AI Scientist template's plot.py figures (relative to ``job_dir``), or why it failed."""
    job_dir.mkdir(parents=True, exist_ok=True)
    plot_metric(task, state.get("experiments", []), job_dir / PLOT_FILE)
    if state.get("nodes"):
        plot_tree(state["nodes"], state.get("incumbent", ROOT), job_dir / TREE_FILE)
    path = job_dir / "report.md"
    path.write_text(render(task, state, plots=plots, plot_error=plot_error), encoding="utf-8")
    return path


def fmt(value: Any) -> str:
    """A number as the report and the paper show it (four significant digits; — for none)."""
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def cell(text: Any) -> str:
    """``text`` as one cell of a Markdown table."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(task: Task, state: ResearchState, *, plot_name: str = PLOT_FILE, plots: Sequence[str] = (),
           plot_error: str = "") -> str:
    """The report's Markdown."""
    metric, base = task.metric.name, state.get("baseline") or {}
    nodes = tree.by_id(state.get("nodes", []))
    incumbent = nodes.get(state.get("incumbent", ROOT))
    lines = [f"# Research report: {task.name} (job {state['job_id']})", "", "## Question", "", task.goal, "",
             f"Metric: **{metric}** ({task.metric.direction}).", ""]
    reference = f"the first incumbent `{base.get('node')}`" if from_data(base) else "the baseline"
    lines += _baseline(metric, base)
    lines += _incumbent(state, incumbent)
    lines += _standing(task, state)
    lines += ["## Findings", "", f"Rule: {RULE}. A candidate is judged against the incumbent it must beat, "
              f"on paired seeds; its pairs against {reference} give the overall gain.", ""]
    findings = state.get("findings", [])
    if not any(f["accepted"] for f in findings):
        lines += ["No improvement verified.", ""]
    for f in findings:
        lines += _finding(metric, f, reference=reference)
    lines += _ablations(task, state)
    lines += ["## Tree of solutions", "", f"![tree of solutions]({TREE_FILE})", "",
              "| node | parent | operator | idea | fate | " + metric + " | lesson |", "|---|---|---|---|---|---|---|"]
    for n in nodes.values():
        lines.append(f"| {n['id']} | {n['parent'] or '—'} | {n['operator']} | {cell(n['idea']['title'])} | "
                     f"{n['fate']} | {fmt(n['value'])} | {cell(n['lesson'] or n['summary'] or (n['error'] or '')[:80])} |")
    lines += ["", "## Metric over rounds", "", f"![{metric} over rounds]({plot_name})", ""]
    if plots or plot_error:
        lines += ["## Template plots", "", "The template's plot.py, run in the sandbox over run_0/ (the baseline's "
                  "outputs) and run_1/ (the incumbent's, when a change was verified).", ""]
        lines += [f"![{Path(p).name}]({p})" for p in plots] + ([f"plot.py failed: {plot_error}"] if plot_error else [])
        lines += [""]
    lines += ["## Experiments", "", f"| id | round | role | seed | params | status | {metric} | duration (s) | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    for e in state.get("experiments", []):
        lines.append(f"| {e['experiment_id']} | {e['iteration']} | {e['role']} | {e['seed']} | "
                     f"{cell(json.dumps(e['params'], sort_keys=True))} | {e['status']} | {_graded(e, task.metric.name)} | "
                     f"{fmt(e['duration_s'])} | {cell((e.get('error') or '')[:80])} |")
    lines += ["", "## Ideas", "", f"| round | node | idea | why | fate | {metric} | review | novelty |",
              "|---|---|---|---|---|---|---|---|"]
    for n in [n for n in nodes.values() if n["id"] != ROOT]:
        lines.append(f"| {n['round']} | {n['id']} | {cell(n['idea']['title'])} | {cell(n['idea']['hypothesis'])} | "
                     f"{n['fate']} | {fmt(n['value'])} | {cell(n['summary'])} | {cell(n['idea'].get('novelty', ''))} |")
    lines += _neighbours(state) + _decisions(state) + _refused(nodes) + _citations(state)
    lines += ["", "## Spending", "", f"- LLM tokens: {state.get('tokens', 0)}; cost: ${state.get('cost_usd', 0.0):.4f}",
              f"- stopped: {state.get('stop_reason') or '—'}"]
    lines += [f"- note: {n}" for n in state.get("notes", [])]
    return "\n".join(lines) + "\n"


def _baseline(metric: str, base: dict[str, Any]) -> list[str]:
    if not from_data(base):
        return ["## Baseline", "", f"{metric} = **{fmt(base.get('value'))}** on seed 0 "
                f"(experiment `{base.get('experiment_id', '—')}`).", ""]
    started = (f"There was no baseline: the task folder had no `{base['missing']}`, so the job started from "
               "data and drafted the first solution.")
    if not base.get("node"):
        return ["## Baseline", "", started + " No draft ran and was graded, so the job has no solution.", ""]
    return ["## Baseline", "", started + f" The first draft that ran and was graded, node `{base['node']}` "
            f"({metric} = **{fmt(base.get('value'))}** on seed 0, experiment `{base.get('experiment_id')}`), "
            "became the first incumbent without verification (there was nothing to verify it against); "
            "later findings were verified against the incumbent of their round, and every overall gain "
            "below is over this first incumbent.", ""]


def _incumbent(state: ResearchState, incumbent: tree.Node | None) -> list[str]:
    if incumbent is not None and not tree.has_solution(incumbent):
        return ["## Incumbent", "", "None: no draft ran and was graded.", ""]
    if incumbent is None or incumbent["id"] == ROOT:
        return ["## Incumbent", "", "The baseline is still the incumbent: no change was verified.", ""]
    path, nodes = [], tree.by_id(state.get("nodes", []))
    node: tree.Node | None = incumbent
    while node is not None and node["id"] != ROOT:
        path.append(node["id"])
        node = nodes.get(node["parent"] or "")
    return ["## Incumbent", "", f"Node `{incumbent['id']}` ({incumbent['idea']['title']}), "
            f"{fmt(incumbent['value'])} on seed 0, reached by root → {' → '.join(reversed(path))}. "
            "Its diff from the root:", "", "```diff", (incumbent["diff"] or "(no change)").rstrip(), "```", ""]


def _finding(metric: str, f: Finding, *, reference: str = "the baseline") -> list[str]:
    status = "accepted" if f["accepted"] else f"rejected by {f['decided_by']}: {f['reason']}"
    lines = [f"### Round {f['iteration']}, node {f['node']}: {f['title']} ({status})", "", f["summary"], "",
             f"- {metric} on seed 0: {fmt(f['value'])}; params `{json.dumps(f['params'], sort_keys=True)}`",
             f"- against the incumbent `{f['against']}`: mean paired gain {fmt(f['mean_gain'])} ± "
             f"{fmt(f['stderr'])} (standard error), n = {f['n']}; replicates spent: {f.get('replicates', f['n'])} "
             f"pairs in {len(f.get('looks', [])) or 1} look(s)",
             "- evidence (seed: incumbent → candidate): " + ", ".join(
                 f"{s}: {fmt(p.get('incumbent'))} → {fmt(p.get('candidate'))}" for s, p in f["pairs"].items()),
             f"- overall gain over {reference}: {fmt(f['baseline_gain'])} (seed: {reference.removeprefix('the ')} "
             "→ candidate: " + ", ".join(
                 f"{s}: {fmt(p.get('baseline'))} → {fmt(p.get('candidate'))}" for s, p in f["baseline_pairs"].items()) + ")",
             f"- experiment `{f['experiment_id']}`", ""]
    if identical_replicates(f["pairs"]):
        lines[-1:] = [f"- **note**: {IDENTICAL}", ""]
    review = f.get("critique")
    if review:
        lines += ["Critique" + (" (**flagged**)" if review["flagged"] else "") + ":", "",
                  f"- soundness: {review['soundness']}", f"- confounds: {'; '.join(review['confounds']) or '—'}",
                  f"- suggested ablation: {review['ablation'] or '—'}", f"- flaw: {review['flaw'] or 'none named'}", ""]
    for rel in f["artifacts"]:
        image = rel.lower().endswith((".png", ".jpg", ".jpeg", ".svg", ".gif"))
        lines.append(f"{'!' if image else ''}[{rel}]({f['experiment_id']}/output/{rel})")
    if f["artifacts"]:
        lines.append("")
    if f["diff"]:
        lines += ["```diff", f["diff"].rstrip(), "```", ""]
    return lines


def _standing(task: Task, state: ResearchState) -> list[str]:
    """The best seen on seed 0 beside the best verified, and why each better-looking node is not verified."""
    where = standing(task, state)
    seen, kept = where["best_seen"], where["best_verified"]
    if not seen:
        return []
    lines = ["## Best seen and best verified", "",
             f"- best seen (seed 0): `{seen['node']}` ({seen['title']}), {task.metric.name} = {fmt(seen['value'])}",
             f"- best verified (the incumbent): `{kept.get('node', ROOT)}` ({kept.get('title', 'baseline')}), "
             f"{task.metric.name} = {fmt(kept.get('value'))}", ""]
    if not where["contenders"]:
        return [*lines, "No unverified node beats the incumbent on seed 0.", ""]
    lines += ["| node | idea | " + task.metric.name + " (seed 0) | pairs spent | mean gain | bound | tolerance | why |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {c['node']} | {cell(c['title'])} | {fmt(c['value'])} | {c['replicates']} | {fmt(c['mean_gain'])} | "
              f"{fmt(c['bound'])} | {fmt(c['tolerance'])} | {cell(c['why'])} |" for c in where["contenders"]]
    return [*lines, ""]


def ablation_table(task: Task, state: ResearchState) -> list[str]:
    """The ablations' table: each ablate node, what it reverted, and its change against the full node
    on seed 0 (no lines when none ran)."""
    nodes = tree.by_id(state.get("nodes", []))
    rows = []
    for n in nodes.values():
        if n["operator"] != "ablate":
            continue
        parent = nodes.get(n["parent"] or "")
        delta = (task.metric.gain(n["value"], parent["value"]) if parent and n["value"] is not None
                 and parent["value"] is not None else None)
        rows.append(f"| {n['id']} | {n['parent']} | {cell(n['explanation'])} | {fmt(n['value'])} | {fmt(delta)} |")
    if not rows:
        return []
    return [f"| node | of | reverted | {task.metric.name} | change vs. the full node (seed 0) |",
            "|---|---|---|---|---|", *rows]


def _ablations(task: Task, state: ResearchState) -> list[str]:
    table = ablation_table(task, state)
    return ["## Ablations", "", *table, ""] if table else []


def _neighbours(state: ResearchState) -> list[str]:
    rows = [f"- {n['id']}, {n['idea']['title']}: " + "; ".join(
                f"{m['text'][:60]!r} ({m['fate']}, distance {m['distance']:.3f})" for m in n["idea"].get("neighbours", []))
            for n in state.get("nodes", []) if n["idea"].get("neighbours")]
    return ["", "## Novelty neighbours", "", *rows] if rows else []


def _decisions(state: ResearchState) -> list[str]:
    lines = ["", "## Human decisions", ""]
    if not state.get("decisions"):
        return [*lines, "No checkpoint needed a human (gate policies approved everything)."]
    lines += ["| checkpoint | kind | action | by | at | reason | flagged |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {d['checkpoint_id']} | {d['kind']} | {d['action']} | {d['by']} | {d.get('at') or '—'} | "
              f"{cell(d.get('reason', ''))} | {cell('; '.join(d.get('flagged', [])))} |" for d in state["decisions"]]
    return lines


def _graded(run: Run, metric: str) -> str:
    """The run's metric; for a graded run, the experiment's own claim beside the grader's number."""
    own = run.get("self_reported")
    if own is None or metric not in own:
        return fmt(run["value"])
    return f"{fmt(run['value'])} (self-reported {fmt(own[metric])})"


def _refused(nodes: dict[str, Node]) -> list[str]:
    rows = [f"- round {n['round']}, node {n['id']} ({cell(n['idea']['title'])}): {n['refused']}"
            for n in nodes.values() if n.get("refused")]
    return ["", "## Refused edits", "", "Changes that touched a protected file, refused before they ran:", "",
            *rows] if rows else []


def _citations(state: ResearchState) -> list[str]:
    cited = sorted({c for n in state.get("nodes", []) for c in n["idea"].get("citations", [])})
    return ["", "## Literature cited", "", *[f"- {c}" for c in cited]] if cited else []


