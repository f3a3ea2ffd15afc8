"""The task's grader: the judge is not the judged.

When a task has ``evaluation``, every experiment that ran to its end is followed by a second,
fresh sandbox run: the grader's command, in a workspace made from the *task folder as stored*
(its hidden files included, none of the experiment's edits), with the experiment's outputs
read-only at ``$LABLOOP_SUBMISSION``, the same seed, no network and the grader's own timeout.
The grader's ``metrics.json`` becomes the run's metrics; what the experiment wrote itself is
kept as ``self_reported``. A grader that fails fails the run, with its own message.

A run is finished only once it is graded: ``result.json`` is written after the grader. The
experiment's own result is kept in ``experiment.json`` first, so a crash during grading re-runs
only the grader.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from agents.protocols import ExperimentRunner
from agents.task import Task
from sandbox.result import ExperimentResult, Limits, RunRequest

OWN_RESULT_FILE = "experiment.json"
GRADER_DIR = "grader"
_TAIL = 4000
_CLUTTER = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".labloop")


def grade(runner: ExperimentRunner, task: Task, task_dir: Path, own: ExperimentResult, *, submission: Path,
          work_dir: Path, seed: int, labels: Mapping[str, str], image: str | None) -> ExperimentResult:
    """Grade an experiment's outputs (``submission``) with the task's grader in its own sandbox run.

    The grader's workspace is a copy of the task folder as stored, hidden files included and none
    of the experiment's changes; it is deleted afterwards. An experiment that did not run to its
    end is not graded.
    """
    if not own.succeeded:
        return ungraded(own)
    workspace, output_dir = work_dir / "workspace", work_dir / "output"
    for folder in (workspace, output_dir):
        if folder.exists():
            shutil.rmtree(folder)
    shutil.copytree(task_dir, workspace, ignore=_CLUTTER)
    output_dir.mkdir(parents=True)
    request = grader_request(task, workspace=workspace, output_dir=output_dir, submission=submission, seed=seed,
                             labels=dict(labels), image=image)
    try:
        return graded(own, runner.run(request))
    finally:
        shutil.rmtree(workspace, ignore_errors=True)  # the hidden files stay only in the task folder


def grader_limits(task: Task) -> Limits:
    """The grader's run: the task's sandbox limits, its own timeout, never a network."""
    assert task.evaluation is not None
    limits = task.sandbox.limits(task.evaluation.timeout_s)
    return limits.model_copy(update={"network": "none"})


def grader_request(task: Task, *, workspace: Path, output_dir: Path, submission: Path, seed: int,
                   labels: dict[str, str], image: str | None) -> RunRequest:
    """The sandbox request that grades the outputs in ``submission``."""
    assert task.evaluation is not None
    return RunRequest(
        workspace=workspace, output_dir=output_dir, command=task.evaluation.command, limits=grader_limits(task),
        seed=seed, metric=task.metric.name, labels=labels, image=image, inputs=submission,
    )


def ungraded(own: ExperimentResult) -> ExperimentResult:
    """An experiment that did not run to its end: nothing to grade, and its own numbers are not metrics."""
    return own.model_copy(update={"metrics": {}, "self_reported": dict(own.metrics)})


def graded(own: ExperimentResult, grader: ExperimentResult) -> ExperimentResult:
    """The run's result: the grader's metrics (or its failure) over the experiment's own run."""
    notes = [*own.notes, *(f"grader: {note}" for note in grader.notes)]
    if grader.succeeded:
        return own.model_copy(update={"metrics": dict(grader.metrics), "self_reported": dict(own.metrics),
                                      "notes": notes})
    message = grader.stderr_tail.strip() or grader.stdout_tail.strip()
    tail = f"{own.stderr_tail}\n[grader]\n{message}" if own.stderr_tail else f"[grader]\n{message}"
    return own.model_copy(update={
        "status": "failed", "metrics": {}, "self_reported": dict(own.metrics), "notes": notes,
        "error": f"the grader failed: {grader.error or grader.status}", "stderr_tail": tail[-_TAIL * 2:],
    })


def gap(task: Task, result: ExperimentResult, threshold: float) -> str | None:
    """Why the experiment's own score differs suspiciously from the grader's (a reward-hacking signal), or None."""
    name = task.metric.name
    if task.evaluation is None or not result.succeeded or not result.self_reported:
        return None
    mine, judged = result.self_reported.get(name), result.metrics.get(name)
    if mine is None or judged is None:
        return None
    scale = max(abs(judged), 1e-9)
    if abs(mine - judged) / scale <= threshold:
        return None
    return (f"self-reported {name} {mine:.6g} differs from the grader's {judged:.6g} by "
            f"{abs(mine - judged) / scale:.0%} (more than {threshold:.0%}): the experiment may be judging itself")
