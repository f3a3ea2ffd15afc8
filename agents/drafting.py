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
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from agents.briefing import Briefing, clip
from agents.context import ResearchContext
from agents.edits import CodeChange, apply_change
from agents.errors import ConfigError
from agents.llm import TokenMeter, ask_json
from agents.llm_steps import Idea as IdeaReply
from agents.prompts import messages
from agents.state import Json
from agents.task import Task
from agents.template import system_text

_INTERPRETER = re.compile(r"^(python(\d+(\.\d+)?)?|pypy3?|bash|sh|Rscript|julia|node)$")
_OPTION_WITH_PROGRAM = {"-m", "-c", "-e"}  # the program is a module or inline text, not a file
LISTED_FILES = 60  # the file listing a draft prompt shows (the rest is counted, not listed)
PREVIEW_LINES = 4  # header and first rows of each table file
PREVIEW_CHARS = 4000


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


def _hidden(task: Task) -> set[str]:
    """The grader's files (``evaluation.files``): never listed to the model."""
    evaluation = getattr(task, "evaluation", None)
    return {PurePosixPath(str(p)).as_posix().rstrip("/") for p in getattr(evaluation, "files", None) or []}


def data_overview(task: Task, task_dir: Path) -> str:
    """The task folder as a draft sees it: every file with its size, and the first rows of each table."""
    hidden = _hidden(task)
    files = [p for p in sorted(task_dir.rglob("*")) if p.is_file() and not p.is_symlink()]
    shown: list[str] = []
    previews: list[str] = []
    for path in files:
        rel = path.relative_to(task_dir).as_posix()
        if rel.startswith(".") or "__pycache__" in rel or any(rel == h or rel.startswith(h + "/") for h in hidden):
            continue
        shown.append(f"- {rel} ({path.stat().st_size} bytes)")
        if path.suffix.lower() in {".csv", ".tsv"}:
            with path.open(encoding="utf-8", errors="replace") as handle:
                head = [line.rstrip("\n")[:300] for _, line in zip(range(PREVIEW_LINES), handle, strict=False)]
            previews.append(f"--- first lines of {rel} ---\n" + "\n".join(head))
    listing = "\n".join(shown[:LISTED_FILES])
    if len(shown) > LISTED_FILES:
        listing += f"\n- … and {len(shown) - LISTED_FILES} more files"
    text = (listing or "(no files)") + ("\n\n" + "\n\n".join(previews) if previews else "")
    return clip(text, PREVIEW_CHARS, what="file listing")


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
            "listing": data_overview(task, ctx.task_dir)}


def _model(ctx: ResearchContext) -> Any:
    if ctx.model is None:
        raise ConfigError("strategy llm needs a model: set LABLOOP_LLM_BASE_URL (and LABLOOP_LLM_MODEL)")
    return ctx.model


def propose_draft(ctx: ResearchContext, meter: TokenMeter, briefing: Briefing, *, missing: str,
                  retry_note: str = "") -> Json:
    """Ask the model for the approach of a draft: a whole first solution (step ``ideate``)."""
    msgs = messages("ideate", template="draft_idea", instructions=system_text(ctx.task_dir),
                    **_values(ctx, missing), code=briefing.code, tree=briefing.tree, lessons=briefing.lessons,
                    rejections=briefing.rejections, recall=briefing.recall,
                    retry_note=f"\n{retry_note}\n" if retry_note else "")
    idea = ask_json(_model(ctx), meter, msgs, IdeaReply)
    return {**idea.model_dump(), "source": "llm"}


def write_draft(ctx: ResearchContext, meter: TokenMeter, idea: Mapping[str, Any], briefing: Briefing, *,
                missing: str, originals: Mapping[str, str]) -> tuple[dict[str, str], dict[str, Any], str]:
    """Ask the model to write the whole solution (step ``draft``); return (files, params, explanation).

    A reply that does not create the entry file is sent back: without it nothing would run.
    """
    msgs = messages("draft", instructions=system_text(ctx.task_dir), **_values(ctx, missing),
                    title=idea["title"], hypothesis=idea.get("hypothesis", ""), plan=idea.get("plan", ""),
                    code=briefing.code, lessons=briefing.lessons)

    def creates_entry(change: CodeChange) -> None:
        if missing not in apply_change(originals, {}, change):
            raise ValueError(f"the reply does not create {missing}, the file the entrypoint "
                             f"`{ctx.task.entrypoint}` runs; give its whole content under \"files\"")

    change = ask_json(_model(ctx), meter, msgs, CodeChange, check=creates_entry)
    params = {**(idea.get("params") or {}), **(change.params or {})}
    return apply_change(originals, {}, change), params, change.explanation
