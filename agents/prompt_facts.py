"""The facts of a job every prompt's system message states: its environment, limits and budget.

The model should not guess library versions (APIs differ between releases) nor read a budget
from ``task.yaml`` that the job overrode: the versions come from the task's image (asked once
per image, see :mod:`sandbox.facts`) and the limits and budget from the job's own task.
"""

from __future__ import annotations

from agents.context import ResearchContext
from agents.errors import InvalidInput
from sandbox.requirements import parse_requirements

# Packages whose version a scientific experiment most often depends on, always reported.
WATCHED_PACKAGES = ("numpy", "scipy", "scikit-learn", "pandas", "matplotlib")
MOST_REQUIREMENTS = 30


def requirement_names(ctx: ResearchContext) -> list[str]:
    """The package names the task's requirements list, read by the one requirements parser (a job's
    task was checked when the job was created; a file that no longer parses names nothing here)."""
    try:
        text = ctx.task.requirements(ctx.task_dir) or ""
        packages = parse_requirements(text) if text.strip() else []
    except (InvalidInput, OSError, UnicodeDecodeError):
        return []
    return [p.name for p in packages][:MOST_REQUIREMENTS]


def environment_text(ctx: ResearchContext) -> str:
    """The system prompt's facts: Python and package versions, the sandbox's limits, the job's budget."""
    task, facts = ctx.task, ctx.image_facts
    lines = ["Facts of this job (rely on them rather than on task.yaml, which may differ):"]
    if facts is not None:
        wanted = list(dict.fromkeys([*WATCHED_PACKAGES, *requirement_names(ctx)]))
        versions = ", ".join(f"{name} {facts.version(name) or 'not installed'}" for name in wanted)
        lines.append(f"- Python {facts.python}; packages: {versions}. Write code for exactly these versions.")
    else:
        lines.append("- The image's package versions are unknown: prefer long-stable APIs.")
    box, budget = task.sandbox, task.budget
    gpus = "no GPU" if not box.gpus else f"{box.gpus} GPU(s)"
    lines.append(f"- Each experiment run: {box.cpus:g} CPU(s), {box.memory} memory, {gpus}, network "
                 f"{box.network}, at most {budget.experiment_timeout_s:g} s (then it is killed), "
                 f"{box.disk} of disk for the workspace and outputs.")
    spend = [f"{budget.iterations} rounds of {task.search.parallel} branch(es)",
             f"{budget.debug_attempts} debug attempts per failure", f"{budget.llm_tokens} LLM tokens"]
    if budget.experiments is not None:
        spend.append(f"{budget.experiments} experiment runs")
    if budget.wall_clock_s is not None:
        spend.append(f"{budget.wall_clock_s:g} s of wall-clock time")
    lines.append(f"- The job's budget: {', '.join(spend)}; every finding is checked on "
                 f"{task.replicates} paired seeds.")
    return "\n".join(lines)
