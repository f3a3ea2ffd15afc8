"""The parts of AI Scientist templates as tasks: the flattening program (run by python3 as the
sandbox runs it), the entrypoint's shell quoting, labloop.yaml, prompt.json, seed ideas, --metric."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agents.errors import InvalidInput, InvalidTask
from agents.flags import code_flags
from agents.task import load_task, template_task
from agents.template import (
    ENTRYPOINT,
    FLATTEN,
    METRIC_NOT_GIVEN,
    folder_reader,
    metric_option,
    reads_seed,
    seed_ideas,
    slug,
)
from agents.verify import identical_replicates

ROOT = Path(__file__).resolve().parents[2]


def _flatten(tmp_path: Path, final_info: Any) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    if final_info is not None:
        text = final_info if isinstance(final_info, str) else json.dumps(final_info)
        (out / "final_info.json").write_text(text)
    ran = subprocess.run([sys.executable, "-c", FLATTEN], env={**os.environ, "LABLOOP_OUTPUT": str(out)},
                         capture_output=True, text=True, timeout=30)
    metrics = out / "metrics.json"
    return ran, json.loads(metrics.read_text()) if metrics.is_file() else None


def test_one_dataset_keeps_the_names_of_its_means_and_only_numbers(tmp_path: Path) -> None:
    ran, metrics = _flatten(tmp_path, {"shakespeare_char": {
        "means": {"final_train_loss": 0.81, "best_val_loss": 1.47, "iters": 5000, "note": "ok", "done": True,
                  "curve": [1, 2]},
        "stderrs": {"final_train_loss": 0.01}}})
    assert ran.returncode == 0, ran.stderr
    assert metrics == {"final_train_loss": 0.81, "best_val_loss": 1.47, "iters": 5000}


def test_several_datasets_prefix_each_metric_with_its_dataset(tmp_path: Path) -> None:
    ran, metrics = _flatten(tmp_path, {"circle": {"means": {"eval_loss": 0.4, "kl": 0.1}},
                                       "moons": {"means": {"eval_loss": 0.6}, "stderrs": {"eval_loss": 0.02}}})
    assert ran.returncode == 0, ran.stderr
    assert metrics == {"circle.eval_loss": 0.4, "circle.kl": 0.1, "moons.eval_loss": 0.6}


@pytest.mark.parametrize(("final_info", "says"), [
    (None, "experiment.py wrote no final_info.json under --out_dir"),
    ("{not json", "final_info.json is not valid JSON"),
    ({}, "final_info.json must be an object"),
    ([1, 2], "final_info.json must be an object"),
    ({"moons": {"stderrs": {}}}, "'moons' has no means object"),
    ({"moons": [0.5]}, "'moons' has no means object"),
])
def test_a_final_info_that_cannot_be_flattened_fails_the_run_saying_why(tmp_path: Path, final_info: Any,
                                                                        says: str) -> None:
    ran, metrics = _flatten(tmp_path, final_info)
    assert ran.returncode == 1 and says in ran.stderr and metrics is None


def test_the_entrypoint_runs_experiment_py_with_out_dir_then_flattens_through_the_shell(tmp_path: Path) -> None:
    # The same command line the sandbox's /bin/sh -c gets; experiment.py's own exit status wins.
    (tmp_path / "experiment.py").write_text(
        "import argparse, json, pathlib, sys\n"
        "p = argparse.ArgumentParser(); p.add_argument('--out_dir'); d = pathlib.Path(p.parse_args().out_dir)\n"
        "(d / 'final_info.json').write_text(json.dumps({'a b': {'means': {\"it's\": 1.5}}}))\n"
        "sys.exit(int(pathlib.Path('status').read_text()) if pathlib.Path('status').exists() else 0)\n")
    out = tmp_path / "output dir"
    out.mkdir()
    env = {**os.environ, "LABLOOP_OUTPUT": str(out), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    ran = subprocess.run(["/bin/sh", "-c", ENTRYPOINT], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert json.loads((out / "metrics.json").read_text()) == {"it's": 1.5}

    (out / "metrics.json").unlink()
    (tmp_path / "status").write_text("3")
    failed = subprocess.run(["/bin/sh", "-c", ENTRYPOINT], cwd=tmp_path, env=env, capture_output=True, timeout=30)
    assert failed.returncode == 3 and not (out / "metrics.json").exists()


def _template(folder: Path, **files: Any) -> Path:
    folder.mkdir(parents=True)
    (folder / "experiment.py").write_text(files.pop("experiment", "print('hi')\n"))
    (folder / "prompt.json").write_text(json.dumps(files.pop("prompt", {"system": "s", "task_description": "Do it."})))
    for rel, body in files.items():
        name = {"labloop": "labloop.yaml", "seeds": "seed_ideas.json"}[rel]
        (folder / name).write_text(body if isinstance(body, str) else json.dumps(body))
    return folder


def test_a_template_becomes_a_task_with_labloop_yaml_under_the_jobs_fields(tmp_path: Path) -> None:
    folder = _template(tmp_path / "My Diffusion_Template", labloop=(
        "metric: {name: eval_loss, direction: minimize}\nreplicates: 4\nbudget: {iterations: 2}\n"
        "params: {lr: {low: 0.001, high: 0.1, log: true}}\n"))
    task = load_task(folder)
    assert (task.name, task.goal, task.replicates, task.budget.iterations) == (
        "my-diffusion_template", "Do it.", 4, 2)
    assert task.metric.name == "eval_loss" and task.metric.direction == "minimize" and task.metric_given
    assert task.entrypoint == ENTRYPOINT and set(task.params) == {"lr"}

    given = load_task(folder, fields={"metric": metric_option("circle.kl:maximize")})
    assert (given.metric.name, given.metric.direction) == ("circle.kl", "maximize")


def test_a_template_without_a_metric_loads_with_none_given(tmp_path: Path) -> None:
    task = load_task(_template(tmp_path / "t"))
    assert task.metric.name == METRIC_NOT_GIVEN and not task.metric_given


@pytest.mark.parametrize(("files", "says"), [
    ({"labloop": "goal: mine\n"}, "labloop.yaml: unknown key 'goal'"),
    ({"labloop": "metric: {name: x, direction: up}\n"}, "field 'metric.direction'"),
    ({"labloop": "- a\n"}, "labloop.yaml must be a mapping"),
    ({"prompt": {"system": "s"}}, "needs a non-empty \"task_description\""),
    ({"seeds": {"Name": "x"}}, "seed_ideas.json must be a list of objects"),
    ({"seeds": [{"Experiment": "x"}]}, "idea 0 has neither a Title nor a Name"),
    ({"seeds": "[oops"}, "seed_ideas.json is not valid JSON"),
])
def test_a_broken_template_is_refused_naming_the_file(tmp_path: Path, files: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidTask) as caught:
        load_task(_template(tmp_path / "t", **files))
    assert says in str(caught.value)


def test_a_folder_that_is_neither_a_task_nor_a_template_says_what_it_needs(tmp_path: Path) -> None:
    (tmp_path / "experiment.py").write_text("")
    with pytest.raises(InvalidTask, match="experiment.py and prompt.json"):
        load_task(tmp_path)


def test_an_uploaded_template_must_name_itself_in_labloop_yaml() -> None:
    files = {"experiment.py": "", "prompt.json": json.dumps({"task_description": "Do it."})}
    with pytest.raises(InvalidTask, match="needs its name in labloop.yaml"):
        template_task(files.get, default_name=None)
    assert template_task({**files, "labloop.yaml": "name: up\n"}.get, default_name=None).name == "up"


def test_seed_ideas_take_title_or_name_and_the_experiment_as_the_plan(tmp_path: Path) -> None:
    folder = _template(tmp_path / "t", seeds=[
        {"Name": "lr", "Title": "Adaptive learning rates", "Experiment": "Try cosine.", "Novelty": 3},
        {"Name": "only_a_name"}])
    assert seed_ideas(folder_reader(folder)) == [
        {"title": "Adaptive learning rates", "hypothesis": "Adaptive learning rates", "plan": "Try cosine."},
        {"title": "only_a_name", "hypothesis": "only_a_name", "plan": ""}]


def test_a_template_that_never_reads_labloop_seed_is_told_apart(tmp_path: Path) -> None:
    assert not reads_seed(folder_reader(_template(tmp_path / "a")))
    assert reads_seed(folder_reader(_template(tmp_path / "b", experiment="os.environ.get('LABLOOP_SEED')\n")))


@pytest.mark.parametrize("text", ["loss", "loss:down", ":minimize", "loss:"])
def test_metric_option_needs_a_name_and_a_direction(text: str) -> None:
    with pytest.raises(InvalidInput, match="NAME:maximize or NAME:minimize"):
        metric_option(text)


def test_metric_option_keeps_colons_in_the_name() -> None:
    assert metric_option("moons.eval:loss:minimize") == {"name": "moons.eval:loss", "direction": "minimize"}


def test_slug_and_identical_replicates() -> None:
    assert slug("2D Diffusion!") == "2d-diffusion" and slug("___") == "template"
    assert identical_replicates({"1": {"incumbent": 0.5, "candidate": 0.75}, "2": {"incumbent": 0.5, "candidate": 0.75}})
    assert not identical_replicates({"1": {"incumbent": 0.5, "candidate": 0.75}, "2": {"incumbent": 0.5, "candidate": 0.7}})
    assert not identical_replicates({"1": {"incumbent": 0.5, "candidate": 0.75}})  # one seed says nothing


def test_the_example_template_is_valid_and_names_its_metric() -> None:
    task = load_task(ROOT / "tasks" / "ode_template")
    assert (task.name, task.metric.name, task.metric.direction) == ("ode_template", "forecast_rmse", "minimize")
    assert reads_seed(folder_reader(ROOT / "tasks" / "ode_template"))
    assert len(seed_ideas(folder_reader(ROOT / "tasks" / "ode_template"))) == 2


def test_a_change_to_a_templates_labloop_yaml_is_shown_to_a_human() -> None:
    (flag,) = code_flags({"labloop.yaml": "metric: {name: fit_time_s, direction: minimize}\n"})
    assert flag.startswith("labloop.yaml: edits labloop.yaml: this changes nothing of the job")
