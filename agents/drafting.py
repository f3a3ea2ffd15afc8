"""Tasks that start from data: no solution file in the task folder, so the llm strategy drafts first.

A task whose entrypoint names a file the folder does not have (``python experiment.py``
without ``experiment.py``) starts from data, as AIDE and MLE-bench agents do: its root is
"no solution yet" and is never run. The first round drafts — AIDE's draft operator: a whole
solution written from the task's goal, metric, data description and file listing — and the
first draft that runs and is graded becomes the incumbent; later findings are verified
against it as usual. The search strategy only tunes a solution, so a job of it on such a task
is refused when it is made (:func:`no_baseline_message` says why and what to do).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from agents.briefing import Briefing
from agents.context import ModelLimits, ResearchContext
from agents.edits import CodeChange, apply_change
from agents.errors import ConfigError
from agents.experiments import data_files, source_files
from agents.llm import ModelT, TokenMeter, ask_json
from agents.llm_steps import Idea as IdeaReply
from agents.llm_steps import messages
from agents.state import Json
from agents.task import Task
from agents.workspace_paths import check_layout

_INTERPRETER = re.compile(r"^(python(\d+(\.\d+)?)?|pypy3?|bash|sh|Rscript|julia|node)$")
_OPTION_WITH_PROGRAM = {"-m", "-c", "-e"}  # the program is a module or inline text, not a file
LISTED_FILES = 60  # the file listing a draft prompt shows (the rest is counted, not listed)


def entry_file(entrypoint: str) -> str | None:
    """The task-relative file the entrypoint runs (``experiment.py`` of ``python3 -u experiment.py``),
    or None when it names none that can be checked (``python -m pkg``, ``make``, an absolute path)."""
    try:
        tokens = shlex.split(entrypoint)
    except ValueError:
        return None
    previous = ""
    for token in tokens:
        if previous in _OPTION_WITH_PROGRAM:
            return None
        previous = token
        if token.startswith("-") or _INTERPRETER.match(PurePosixPath(token).name):
            continue
        path = PurePosixPath(token)
        if path.is_absolute() or ".." in path.parts or not path.suffix:
            return None
        return path.as_posix()
    return None


def missing_solution(task: Task, task_dir: Path) -> str | None:
    """The entry file the task folder lacks — the task starts from data — or None when it has one."""
    rel = entry_file(task.entrypoint)
    if rel is None or (task_dir / rel).is_file():
        return None
    return rel


def from_data(baseline: Mapping[str, Any]) -> bool:
    """True for a job whose task started from data (its state's ``baseline`` names the missing file)."""
    return bool(baseline.get("missing"))


def no_baseline_message(task: Task, missing: str, *, why: str = "") -> str:
    """Why a task without a solution cannot be run as asked, and the two ways on."""
    return (f"task {task.name!r} has no baseline: {missing}, the file its entrypoint `{task.entrypoint}` runs, "
            f"is not in the task folder{why}. Use the llm strategy (`labloop run TASK --strategy llm`, or "
            f'"strategy": "llm" in the API), which drafts the first solution from the data, or add {missing} '
            "to the task")


def file_listing(task_dir: Path) -> str:
    """Every file of the task folder an experiment sees, with its size (the grader's files never)."""
    sizes = {rel: len(text.encode()) for rel, text in source_files(task_dir).items()}
    sizes.update({rel: file.size for rel, file in data_files(task_dir, most=LISTED_FILES).items()})
    listing = [f"- {rel} ({size} bytes)" for rel, size in sorted(sizes.items())]
    if len(listing) > LISTED_FILES:
        listing = [*listing[:LISTED_FILES], f"- … and {len(listing) - LISTED_FILES} more files"]
    return "\n".join(listing) or "(no files)"


def _scoring(task: Task) -> str:
    if getattr(task, "evaluation", None) is not None:
        return (f"A grader you cannot see computes {task.metric.name} from what the experiment writes under "
                "$LABLOOP_OUTPUT (the goal and the data description say which files, in which format); a "
                "metrics.json the experiment writes itself is kept only as self-reported.")
    return (f"The experiment computes {task.metric.name} itself, on data it did not train on, and writes it to "
            f'$LABLOOP_OUTPUT/metrics.json as a flat JSON object, e.g. {{"{task.metric.name}": 0.5}}.')


def _values(ctx: ResearchContext, missing: str) -> dict[str, str]:
    task = ctx.task
    return {"goal": task.goal, "metric": task.metric.name, "direction": task.metric.direction,
            "entry_file": missing, "entrypoint": task.entrypoint, "scoring": _scoring(task),
            "listing": file_listing(ctx.task_dir)}


def _ask(ctx: ResearchContext, meter: TokenMeter, step: str, msgs: list[dict[str, str]], schema: type[ModelT],
         check: Callable[[ModelT], object] | None = None) -> ModelT:
    if ctx.model is None:
        raise ConfigError("strategy llm needs a model: set LABLOOP_LLM_BASE_URL (and LABLOOP_LLM_MODEL)")
    return ask_json(ctx.model, meter, msgs, schema, check=check, max_tokens=ctx.limits.reply_tokens(step),
                    limit_setting=ModelLimits.setting(step))


def propose_draft(ctx: ResearchContext, meter: TokenMeter, briefing: Briefing, *, missing: str,
                  retry_note: str = "") -> Json:
    """Ask the model for the approach of a draft: a whole first solution (step ``ideate``)."""
    msgs = messages(ctx, "ideate", template="draft_idea", **_values(ctx, missing), code=briefing.code,
                    tree=briefing.tree, lessons=briefing.lessons, rejections=briefing.rejections,
                    recall=briefing.recall, retry_note=f"\n{retry_note}\n" if retry_note else "")
    idea = _ask(ctx, meter, "ideate", msgs, IdeaReply)
    return {**idea.model_dump(), "source": "llm"}


def write_draft(ctx: ResearchContext, meter: TokenMeter, idea: Mapping[str, Any], briefing: Briefing, *,
                missing: str, originals: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Any], str]:
    """Ask the model to write the whole solution (step ``draft``); return (files, params, explanation).

    A reply that does not create the entry file is sent back: without it nothing would run.
    """
    msgs = messages(ctx, "draft", **_values(ctx, missing), title=idea["title"], hypothesis=idea.get("hypothesis", ""),
                    plan=idea.get("plan", ""), code=briefing.code, lessons=briefing.lessons)

    def creates_entry(change: CodeChange) -> None:
        files = apply_change(originals, {}, change)
        check_layout(files, ctx.task_dir)
        if missing not in files:
            raise ValueError(f"the reply does not create {missing}, the file the entrypoint "
                             f"`{ctx.task.entrypoint}` runs; give its whole content under \"files\"")

    change = _ask(ctx, meter, "draft", msgs, CodeChange, check=creates_entry)
    params = {**(idea.get("params") or {}), **(change.params or {})}
    return apply_change(originals, {}, change), params, change.explanation
