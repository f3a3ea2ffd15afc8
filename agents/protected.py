"""Files an experiment may not see, and files no edit may change.

* **Hidden**: a task's ``evaluation.files`` (the grader and what only it reads, e.g. hidden
  labels). They are left out at the source — the task's file listing, the experiment's
  workspace and every diff — so prompts, diffs, the tree, artifacts and the API inherit it.
* **Protected**: ``task.yaml``, ``labloop.yaml``, the evaluation files and the task's
  ``protect`` list. A change (the model's, or a human's at a gate) that touches one is refused
  before it runs: its node ends ``rejected`` with the reason ``protected file: PATH``.

The hidden list is read from the task folder's own ``task.yaml``, so a caller that has only the
folder (``source_files(task_dir)``) cannot forget it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path

from agents.task import TASK_FILE, Task, parse_task
from agents.template import LABLOOP_FILE

ALWAYS_PROTECTED = (TASK_FILE, LABLOOP_FILE)
REFUSED = "protected file"


def hidden_files(task_dir: Path) -> tuple[str, ...]:
    """The task-relative files and folders only the grader may see (none without ``evaluation``)."""
    spec = task_dir / TASK_FILE
    if not spec.is_file():
        return ()  # an AI Scientist template has no grader
    task = parse_task(spec.read_text(encoding="utf-8"), source=TASK_FILE)
    return tuple(task.evaluation.files) if task.evaluation else ()


def under(rel: str, roots: Iterable[str]) -> str | None:
    """The entry of ``roots`` that ``rel`` is or lies beneath (after normalising ``rel``), or None."""
    path = posixpath.normpath(rel.strip().replace("\\", "/")).lstrip("/")
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


def protected_files(task: Task) -> tuple[str, ...]:
    """Every task-relative path no edit may change."""
    graded = task.evaluation.files if task.evaluation else []
    return (*ALWAYS_PROTECTED, *graded, *task.protect)


def refusal(task: Task, paths: Iterable[str]) -> str | None:
    """``protected file: PATH`` for the first of ``paths`` a change may not touch, else None."""
    roots = protected_files(task)
    for rel in sorted(paths):
        if under(rel, roots) is not None:
            return f"{REFUSED}: {rel}"
    return None
