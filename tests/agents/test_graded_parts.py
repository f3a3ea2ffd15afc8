"""The parts of a graded task on their own: its validation, the hidden files left out at the source,
the protected-path check, the gap flag and how a grader's result becomes the run's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agents.errors import InvalidTask
from agents.experiments import data_files, diff_of, materialize, source_files
from agents.grading import gap, graded, ungraded
from agents.protected import refusal
from agents.task import load_task
from sandbox.result import ExperimentResult
from tests.utils.graded import (
    GRADER_FILE,
    HIDDEN_FOLDER,
    LABELS_FILE,
    SECRET,
    TRAIN_FILE,
    make_graded_task,
)


def _with(task: Path, **changes: object) -> Path:
    spec = yaml.safe_load((task / "task.yaml").read_text())
    spec.update(changes)
    (task / "task.yaml").write_text(yaml.safe_dump(spec))
    return task


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"evaluation": {"command": "python3 g.py", "files": ["missing.py"]}},
         "task.yaml: evaluation.files names 'missing.py', which is not in the task folder"),
        ({"evaluation": {"command": "python3 g.py", "files": ["/etc/passwd"]}},
         "evaluation.files entry '/etc/passwd' must be a path relative to the task folder"),
        ({"evaluation": {"command": "python3 g.py", "files": ["a/../../x"]}}, "without '..'"),
        ({"evaluation": {"command": "python3 g.py", "files": []}}, "field 'evaluation.files'"),
        ({"evaluation": {"command": "python3 g.py", "files": ["predict.py"]}},
         "evaluation.files hides the experiment's own entrypoint"),
        ({"evaluation": {"command": "python3 g.py", "files": [GRADER_FILE], "timeout": 5}},
         "unknown key 'evaluation.timeout'"),
        ({"evaluation": {"files": [GRADER_FILE]}}, "missing required field 'evaluation.command'"),
        ({"protect": ["nope.csv"]}, "task.yaml: protect names 'nope.csv', which is not in the task folder"),
        ({"protect": ["~/x"]}, "protect entry '~/x' must be a path relative to the task folder"),
    ],
)
def test_a_bad_evaluation_or_protect_is_refused_with_a_task_relative_message(
    tmp_path: Path, changes: dict[str, object], expected: str
) -> None:
    task = _with(make_graded_task(tmp_path / "graded"), **changes)
    with pytest.raises(InvalidTask) as caught:
        load_task(task)
    assert expected in str(caught.value)


def test_the_graders_files_never_reach_sources_workspaces_or_diffs(tmp_path: Path) -> None:
    task = make_graded_task(tmp_path / "graded", extra={"notes.txt": "visible"})
    assert load_task(task).evaluation is not None
    sources = source_files(task)
    assert set(sources) == {"predict.py", "task.yaml", "notes.txt"}  # no grader, no labels folder
    assert set(data_files(task)) == {TRAIN_FILE}  # the data the prompts list: not the hidden labels
    workspace = tmp_path / "ws"
    materialize(task, workspace, files={}, params={})
    assert sorted(p.relative_to(workspace).as_posix() for p in workspace.rglob("*")) == [
        "notes.txt", "predict.py", "task.yaml", TRAIN_FILE]
    # A change that names a hidden file shows only its own text: the original is treated as absent.
    diff = diff_of(task, {GRADER_FILE: "print(1)\n", LABELS_FILE: "x\n"}, {})
    assert SECRET not in diff and "LABLOOP_SUBMISSION" not in diff and "+print(1)" in diff


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["predict.py", "notes/new.txt"], None),
        ([GRADER_FILE], f"protected file: {GRADER_FILE}"),
        ([f"{HIDDEN_FOLDER}/new.csv"], f"protected file: {HIDDEN_FOLDER}/new.csv"),
        ([f"./{TRAIN_FILE}"], f"protected file: ./{TRAIN_FILE}"),
        (["task.yaml"], "protected file: task.yaml"),
        (["labloop.yaml"], "protected file: labloop.yaml"),
        (["sub/../task.yaml"], "protected file: sub/../task.yaml"),
        (["sub//../labloop.yaml"], "protected file: sub//../labloop.yaml"),
        ([f"{TRAIN_FILE}x"], None),  # a sibling with a longer name is not the protected file
    ],
)
def test_a_change_touching_a_protected_path_is_refused(tmp_path: Path, paths: list[str], expected: str | None) -> None:
    task = load_task(make_graded_task(tmp_path / "graded"))
    assert refusal(task, paths) == expected


def test_task_yaml_and_labloop_yaml_are_protected_without_evaluation(tmp_path: Path) -> None:
    task = load_task(_with(make_graded_task(tmp_path / "graded"), evaluation=None, protect=[]))
    assert refusal(task, ["labloop.yaml"]) == "protected file: labloop.yaml"
    assert refusal(task, [GRADER_FILE, TRAIN_FILE]) is None
    assert source_files(tmp_path / "graded").keys() >= {GRADER_FILE}  # no grader: nothing hidden


def test_the_graders_result_becomes_the_runs_and_a_gap_is_flagged(tmp_path: Path) -> None:
    task = load_task(make_graded_task(tmp_path / "graded"))
    own = ExperimentResult(status="succeeded", exit_code=0, metrics={"accuracy": 1.0}, stderr_tail="warn\n")
    judged = graded(own, ExperimentResult(status="succeeded", exit_code=0, metrics={"accuracy": 0.75}))
    assert judged.metrics == {"accuracy": 0.75} and judged.self_reported == {"accuracy": 1.0}
    assert "differs from the grader's 0.75 by 33%" in str(gap(task, judged, 0.05))
    assert gap(task, judged, 0.5) is None
    close = graded(own, ExperimentResult(status="succeeded", exit_code=0, metrics={"accuracy": 0.98}))
    assert gap(task, close, 0.05) is None
    failed = graded(own, ExperimentResult(status="failed", exit_code=1, error="exited with code 1: bad format",
                                          stderr_tail="Traceback ...\nbad format: 3 predictions for 4 rows\n"))
    assert failed.status == "failed" and failed.metrics == {} and failed.self_reported == {"accuracy": 1.0}
    assert failed.error == "the grader failed: exited with code 1: bad format"
    assert failed.stderr_tail.startswith("warn\n") and "[grader]\nTraceback" in failed.stderr_tail
    crashed = ungraded(ExperimentResult(status="timed_out", metrics={"accuracy": 1.0}))
    assert crashed.metrics == {} and crashed.self_reported == {"accuracy": 1.0}
