"""A bad task.yaml is refused with a message that names the field (no Docker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.errors import InvalidTask
from agents.task import load_task, parse_task

REPO = Path(__file__).resolve().parents[2]
GOOD = """
name: demo
goal: Find the best C.
metric: {name: accuracy, direction: maximize}
entrypoint: python3 experiment.py
params:
  C: {low: 0.001, high: 100.0, log: true}
"""


def test_the_bundled_digits_task_loads() -> None:
    task = load_task(REPO / "tasks" / "digits")
    assert task.metric.name == "accuracy" and set(task.params) == {"C", "gamma", "kernel"}
    assert task.sandbox.limits(task.budget.experiment_timeout_s).network == "none"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (GOOD + "colour: blue\n", "unknown key 'colour'"),
        (GOOD + "sandbox: {cpus: 1, memroy: 1g}\n", "unknown key 'sandbox.memroy'"),
        (GOOD + "replicates: many\n", "field 'replicates'"),
        (GOOD + "budget: {iterations: -1}\n", "field 'budget.iterations'"),
        (GOOD.replace("direction: maximize", "direction: upwards"), "field 'metric.direction'"),
        (GOOD.replace("metric: {name: accuracy, direction: maximize}\n", ""), "missing required field 'metric'"),
        (GOOD.replace("low: 0.001", "low: 1000.0"), "field 'params.C'"),
    ],
)
def test_a_bad_task_is_refused_naming_the_field(change: str, expected: str) -> None:
    with pytest.raises(InvalidTask) as raised:
        parse_task(change, source="task.yaml")
    assert expected in str(raised.value)
    assert str(raised.value).startswith("task.yaml is invalid")


def test_a_folder_without_task_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidTask, match="has no task.yaml"):
        load_task(tmp_path)
