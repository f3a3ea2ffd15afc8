"""The job's Markdown report and its plot of the metric over iterations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.state import Json, ResearchState
from agents.task import Task
from agents.verify import RULE

PLOT_FILE = "metric.png"


def plot_metric(task: Task, experiments: Sequence[Json], path: Path) -> None:
    """Plot the metric of every seed-0 run over iterations, with the baseline and the running best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = [e for e in experiments if e["role"] in ("baseline", "candidate", "debug") and e["seed"] == 0]
    ok = [(e["iteration"], e["value"]) for e in runs if e["value"] is not None]
    failed = [e["iteration"] for e in runs if e["value"] is None]
    fig, ax = plt.subplots(figsize=(7, 4))
    if ok:
        ax.plot([i for i, _ in ok], [v for _, v in ok], "o", label="experiment")
        ax.axhline(ok[0][1], color="grey", linestyle="--", label="baseline")
        best, running = ok[0][1], []
        for _, value in ok:
            best = value if task.metric.better(value, best) else best
            running.append(best)
        ax.step([i for i, _ in ok], running, where="post", label="best so far")
    if failed:
        ax.plot(failed, [ok[0][1] if ok else 0.0] * len(failed), "x", color="red", label="failed run")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"{task.metric.name} ({task.metric.direction})")
    ax.set_title(f"{task.name}: {task.metric.name} over iterations")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(task: Task, state: ResearchState, job_dir: Path) -> Path:
    """Write ``report.md`` and its plot under ``job_dir``; return the report's path."""
    job_dir.mkdir(parents=True, exist_ok=True)
    plot_metric(task, state.get("experiments", []), job_dir / PLOT_FILE)
    path = job_dir / "report.md"
    path.write_text(render(task, state), encoding="utf-8")
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(task: Task, state: ResearchState, *, plot_name: str = PLOT_FILE) -> str:
    """The report's Markdown."""
    metric, base = task.metric.name, state.get("baseline") or {}
    lines = [f"# Research report: {task.name} (job {state['job_id']})", "", "## Question", "", task.goal, "",
             f"Metric: **{metric}** ({task.metric.direction}).", ""]
    lines += ["## Baseline", "", f"{metric} = **{_fmt(base.get('value'))}** on seed 0 "
              f"(experiment `{base.get('experiment_id', '—')}`).", ""]
    lines += ["## Findings", "", f"Rule: {RULE}.", ""]
    findings = state.get("findings", [])
    if not any(f["accepted"] for f in findings):
        lines += ["No improvement verified.", ""]
    for f in findings:
        status = "accepted" if f["accepted"] else f"rejected by {f['decided_by']}: {f['reason']}"
        lines += [f"### Iteration {f['iteration']}: {f['title']} ({status})", "", f["summary"], "",
                  f"- {metric} on seed 0: {_fmt(f['value'])}; params `{json.dumps(f['params'], sort_keys=True)}`",
                  f"- mean paired gain {_fmt(f['mean_gain'])} ± {_fmt(f['stderr'])} (standard error), n = {f['n']}",
                  "- evidence (seed: baseline → candidate): " + ", ".join(
                      f"{s}: {_fmt(p.get('baseline'))} → {_fmt(p.get('candidate'))}" for s, p in f["pairs"].items()),
                  f"- experiment `{f['experiment_id']}`", ""]
        lines += _artifacts(f)
        if f.get("diff"):
            lines += ["```diff", f["diff"].rstrip(), "```", ""]
    lines += ["## Metric over iterations", "", f"![{metric} over iterations]({plot_name})", ""]
    lines += ["## Experiments", "", f"| id | iteration | role | seed | params | status | {metric} | duration (s) | note |",
              "|---|---|---|---|---|---|---|---|---|"]
    for e in state.get("experiments", []):
        lines.append(f"| {e['experiment_id']} | {e['iteration']} | {e['role']} | {e['seed']} | "
                     f"{_cell(json.dumps(e['params'], sort_keys=True))} | {e['status']} | {_fmt(e['value'])} | "
                     f"{_fmt(e['duration_s'])} | {_cell((e.get('error') or '')[:80])} |")
    lines += ["", "## Ideas", "", f"| iteration | idea | why | fate | {metric} | verdict and review | novelty |",
              "|---|---|---|---|---|---|---|"]
    for idea in state.get("ideas", []):
        lines.append(f"| {idea['iteration']} | {_cell(idea.get('title', ''))} | {_cell(idea.get('hypothesis', ''))} | "
                     f"{idea['fate']} | {_fmt(idea.get('value'))} | {_cell(_reading(idea))} | "
                     f"{_cell(idea.get('novelty', ''))} |")
    lines += _neighbours(state) + _decisions(state) + _citations(state)
    lines += ["", "## Spending", "", f"- LLM tokens: {state.get('tokens', 0)}; cost: ${state.get('cost_usd', 0.0):.4f}",
              f"- stopped: {state.get('stop_reason') or '—'}"]
    lines += [f"- note: {n}" for n in state.get("notes", [])]
    return "\n".join(lines) + "\n"


def _artifacts(finding: Json) -> list[str]:
    """Links to the finding's artifacts (images shown inline), relative to the report."""
    lines = []
    for rel in finding.get("artifacts", []):
        link = f"{finding['experiment_id']}/output/{rel}"
        image = rel.lower().endswith((".png", ".jpg", ".jpeg", ".svg", ".gif"))
        lines.append(f"{'!' if image else ''}[{rel}]({link})")
    return [*lines, ""] if lines else []


def _reading(idea: Json) -> str:
    parts = [idea.get("verdict") or "", f"review: {idea['summary']}" if idea.get("summary") else "",
             f"lesson: {idea['lesson']}" if idea.get("lesson") else ""]
    return "; ".join(p for p in parts if p)


def _neighbours(state: ResearchState) -> list[str]:
    rows = [f"- iteration {i['iteration']}, {i.get('title', '')}: " + "; ".join(
                f"{n['text'][:60]!r} ({n['fate']}, distance {n['distance']:.3f})" for n in i["neighbours"])
            for i in state.get("ideas", []) if i.get("neighbours")]
    return ["", "## Novelty neighbours", "", *rows] if rows else []


def _decisions(state: ResearchState) -> list[str]:
    lines = ["", "## Human decisions", ""]
    if not state.get("decisions"):
        return [*lines, "No checkpoint needed a human (gate policies approved everything)."]
    lines += ["| checkpoint | kind | action | by | at | reason | flagged |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {d['checkpoint_id']} | {d['kind']} | {d['action']} | {d['by']} | {d.get('at') or '—'} | "
              f"{_cell(d.get('reason', ''))} | {_cell('; '.join(d.get('flagged', [])))} |" for d in state["decisions"]]
    return lines


def _citations(state: ResearchState) -> list[str]:
    cited = sorted({c for i in state.get("ideas", []) for c in i.get("citations", [])})
    return ["", "## Literature cited", "", *[f"- {c}" for c in cited]] if cited else []
