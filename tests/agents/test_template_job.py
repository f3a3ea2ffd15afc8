"""AI Scientist templates (experiment.py --out_dir, final_info.json, prompt.json, seed_ideas.json,
plot.py; no task.yaml) run as tasks with no edits to their files."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from agents.errors import InvalidTask
from agents.task import load_task
from agents.template import SEED_NOTE, metric_option
from agents.verify import IDENTICAL
from services.collaborators import Collaborators, chat_model
from services.jobs import new_job, template
from services.lifecycle import Lifecycle
from services.local_run import run_job_here
from services.settings import Settings
from services.store import Store, get_job, list_experiments, list_jobs, open_store
from tests.agents.conftest import approve_all
from tests.agents.test_resume import LABLOOP, _env
from tests.utils.fake_llm import FakeLLM

# Two datasets, so the metrics are named DATASET.NAME; "note" is not a number and is left out.
# It never reads LABLOOP_SEED: every seed computes the same thing.
EXPERIMENT = '''
    import argparse
    import json
    from pathlib import Path


    def quality():
        return 0.5


    parser = argparse.ArgumentParser()
    parser.add_argument("--out_dir", type=str, default="run_0")
    out = Path(parser.parse_args().out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final_info = {
        "easy": {"means": {"score": quality() + 0.3, "note": "fine"}, "stderrs": {"score": 0.0}},
        "hard": {"means": {"score": quality(), "steps": 10}, "stderrs": {"score": 0.0}},
    }
    (out / "final_info.json").write_text(json.dumps(final_info))
    print("hard score", quality())
'''
PLOT = '''
    import json
    from pathlib import Path

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(p for p in Path(".").glob("run_*") if (p / "final_info.json").is_file())
    scores = [json.loads((r / "final_info.json").read_text())["hard"]["means"]["score"] for r in runs]
    plt.bar([r.name for r in runs], scores)
    plt.savefig("scores.png")
    print("plotted", [r.name for r in runs], scores)
'''
SYSTEM = "You are a careful quality engineer (TEMPLATE-SYSTEM-MARK)."
SEED_IDEAS = [{"Name": "bonus", "Title": "Add a bonus to quality", "Experiment": "Add 0.25 to quality().",
               "Interestingness": 3, "Feasibility": 10, "Novelty": 1}]
BONUS = json.dumps({"explanation": "add a bonus", "edits": [
    {"path": "experiment.py", "search": "    return 0.5", "replace": "    return 0.5 + 0.25"}]})
IDEA = json.dumps({"title": "Shrink the bonus", "hypothesis": "a smaller bonus", "plan": "0.25 -> 0.2", "params": {}})
SHRINK = json.dumps({"explanation": "smaller", "edits": [
    {"path": "experiment.py", "search": "0.5 + 0.25", "replace": "0.5 + 0.2"}]})
REVIEW = json.dumps({"summary": "the bonus lifted the score", "lesson": "quality() sets the score"})
CRITIQUE = json.dumps({"soundness": "a constant bonus", "confounds": [], "ablation": "remove it", "flaw": ""})


def make_template(folder: Path, *, seed_ideas: bool = True) -> Path:
    """An AI Scientist template folder (no task.yaml) with a labloop.yaml that gives no metric."""
    folder.mkdir(parents=True)
    (folder / "labloop.yaml").write_text("search: {parallel: 1}\nreplicates: 2\nsandbox: {memory: 256m}\n")
    (folder / "experiment.py").write_text(textwrap.dedent(EXPERIMENT).lstrip())
    (folder / "plot.py").write_text(textwrap.dedent(PLOT).lstrip())
    (folder / "prompt.json").write_text(json.dumps({"system": SYSTEM, "task_description": "Raise the hard score."}))
    if seed_ideas:
        (folder / "seed_ideas.json").write_text(json.dumps(SEED_IDEAS))
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}



def test_a_template_runs_end_to_end_with_the_llm_strategy_and_its_metrics_come_from_final_info(
    tmp_path: Path, home: Path, llm: FakeLLM, sandbox: object
) -> None:
    folder = make_template(tmp_path / "Quality Template")
    before = _files(folder)
    settings = Settings(home=home, llm_base_url=llm.base_url, llm_model="fake-model", llm_max_retries=1, reviewers=0)
    llm.add("paper", json.dumps({"title": "A bonus", "abstract": "It reaches {{best}}.", "introduction": "Why.",
                                 "method": "How.", "results": "What.", "limitations": "Little."}))
    llm.add("implement", BONUS, SHRINK)
    llm.add("review", REVIEW, REVIEW)
    llm.add("critique", CRITIQUE)
    llm.add("ideate", IDEA)
    parts = Collaborators(runner=sandbox, model=chat_model(settings))  # type: ignore[arg-type]
    job = template(task=load_task(folder).name, strategy="llm", budget={"iterations": 2, "experiment_timeout_s": 60},
                   metric=metric_option("hard.score:maximize"), paper=True)
    with open_store(settings.db_url) as store:
        row = Lifecycle(store).create(new_job(store, settings, job, created_by="test", folder=folder))
        outcome = run_job_here(store, settings, row.id, parts, on_checkpoint=approve_all)
        assert outcome.status == "succeeded", outcome.error
        rows = {r.id.removeprefix(outcome.job_id + "-"): r for r in list_experiments(store, outcome.job_id)}
        notes = get_job(store, outcome.job_id).notes

    assert row.task_name == "quality-template"  # the folder's name as a task name
    baseline = rows["root-baseline-0"].result or {}
    # final_info.json's means, flattened in the sandbox; numbers only, DATASET.NAME for two datasets
    assert baseline["metrics"] == {"easy.score": 0.8, "hard.score": 0.5, "hard.steps": 10.0}
    assert "final_info.json" in {a["path"] for a in baseline["artifacts"]}
    assert outcome.summary["baseline"] == {"hard.score": 0.5}
    assert outcome.summary["best"]["metrics"]["hard.score"] == pytest.approx(0.75)

    # Round 1's idea is the template's seed idea (the model is not asked); round 2 asks the model.
    assert rows["r1s0-candidate-0"].idea_title == "Add a bonus to quality"
    assert llm.calls("ideate") == 1 and rows["r2s0-candidate-0"].idea_title == "Shrink the bonus"
    implement = llm.prompts("implement")[0]
    assert SYSTEM in implement and "Raise the hard score." in implement and "final_info.json" in implement
    assert "Add 0.25 to quality()." in implement  # the seed idea's Experiment is the plan
    assert "seed ideas (tried first, one a branch):\n- Add a bonus to quality" in llm.prompts("ideate")[0]

    # The template ignores LABLOOP_SEED: the job says so, and verification says its replicates are identical.
    assert SEED_NOTE in notes
    (finding,) = outcome.summary["findings"]
    assert finding["accepted"] and finding["mean_gain"] == pytest.approx(0.25) and finding["stderr"] == 0.0
    assert IDENTICAL in finding["summary"]
    report = Path(outcome.summary["report"])
    text = report.read_text()
    assert f"- **note**: {IDENTICAL}" in text and SEED_NOTE in text

    # plot.py ran in the sandbox over run_0 (baseline) and run_1 (incumbent); its PNG is in the report.
    assert "## Template plots" in text and "![scores.png](plot/output/scores.png)" in text
    assert (report.parent / "plot" / "output" / "scores.png").stat().st_size > 1000
    assert sorted(p.name for p in (report.parent / "plot" / "workspace").glob("run_*")) == ["run_0", "run_1"]
    assert _files(folder) == before  # the template's own files are never edited

    # The paper shows the template's own figure beside labloop's, and says why it has no review.
    paper = report.parent / "paper"
    review = json.loads((paper / "review.json").read_text())
    assert "plot-scores.png" in {f["file"] for f in review["figures"]} and (paper / "plot-scores.png").is_file()
    assert "](plot-scores.png)" in (paper / "paper.md").read_text() and "It reaches 0.75." in (paper / "paper.md").read_text()
    assert review["unavailable"] == "LABLOOP_REVIEWERS is 0: the paper has no automated review"


def test_a_template_without_a_metric_runs_its_baseline_once_and_is_refused_with_the_metrics_it_found(
    tmp_path: Path, home: Path, settings: Settings
) -> None:
    folder = make_template(tmp_path / "quality", seed_ideas=False)
    ran = subprocess.run([LABLOOP, "run", str(folder), "--strategy", "search", "--no-memory", "--json"],
                         env=_env(home), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)

    assert ran.returncode == 1, ran.stderr
    with open_store(settings.db_url) as store:
        (job,) = list_jobs(store)
        assert [r.role for r in list_experiments(store, job.id)] == ["baseline"]  # ran once, then refused
    assert job.status == "failed"
    assert "names no metric; its baseline reported: easy.score = 0.8, hard.score = 0.5, hard.steps = 10" in (
        job.error or "")
    assert f"labloop run {folder.resolve()} --metric easy.score:minimize (or :maximize)" in (job.error or "")
    assert "--metric" in ran.stderr and "hard.score" in ran.stderr

    # One experiment without the graph lists what the template reports, with no metric to miss.
    one = subprocess.run([LABLOOP, "sandbox", "run", str(folder), "--json"], env=_env(home),
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["metrics"] == {"easy.score": 0.8, "hard.score": 0.5, "hard.steps": 10.0}


def test_a_metric_given_for_a_task_with_task_yaml_is_refused(tmp_path: Path, home: Path, store: Store,
                                                              settings: Settings) -> None:
    folder = make_template(tmp_path / "quality")
    (folder / "task.yaml").write_text("name: quality\ngoal: g\nmetric: {name: hard.score}\nentrypoint: python3 e.py\n")
    job = template(task="quality", metric={"name": "hard.score", "direction": "maximize"})
    with pytest.raises(InvalidTask, match="is for AI Scientist templates"):
        new_job(store, settings, job, created_by="test", folder=folder)
