"""Graded tasks in real jobs: the grader judges, the experiment cannot see it, and a grader failure
is a failed run the debug step reads (real sandbox; the scripted model is the only double)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.outcomes import Checkpoint
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import model_parts, run_job
from tests.agents.test_llm_job import CRITIQUE, IDEA, REVIEW
from tests.utils.fake_llm import FakeLLM
from tests.utils.graded import (
    GRADER_FILE,
    HIDDEN_FOLDER,
    SECRET,
    TRAIN_FILE,
    make_graded_task,
    predictor,
)

# Three of four right (the grader says 0.75), but the experiment claims a perfect score.
CHEAT = json.dumps({"explanation": "predict better and claim a perfect score", "files": [
    {"path": "predict.py", "content": predictor(["0", "1", "0", "0"], claimed=1.0)}]})
NO_PREDICTIONS = json.dumps({"explanation": "forget the predictions", "files": [
    {"path": "predict.py", "content": "print('thinking')\n"}]})
FIXED = json.dumps({"explanation": "write the predictions", "files": [
    {"path": "predict.py", "content": predictor(["0", "1", "1", "1"], claimed=None)}]})


def _rows(store: Store, job_id: str) -> dict[str, Any]:
    return {r.id.removeprefix(job_id + "-"): r for r in list_experiments(store, job_id)}


def test_a_perfect_self_reported_score_is_graded_by_the_grader_and_the_gap_is_flagged(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_graded_task(tmp_path / "graded")
    llm.add("ideate", IDEA)
    llm.add("implement", CHEAT)
    llm.add("review", REVIEW)
    llm.add("critique", CRITIQUE)
    seen: list[Checkpoint] = []

    def approve(checkpoint: Checkpoint) -> dict[str, Any]:
        seen.append(checkpoint)
        return {"action": "approve", "by": "test"}

    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm",
                      gates={"idea": "never", "code": "never", "finding": "auto"}, on_checkpoint=approve)

    assert outcome.status == "succeeded", outcome.error
    rows = _rows(store, outcome.job_id)
    cheat = rows["r1s0-candidate-0"].result or {}
    assert cheat["metrics"] == {"accuracy": 0.75, "grader_seed": 0.0}  # the grader's numbers are the run's
    assert cheat["self_reported"] == {"accuracy": 1.0}  # what the experiment claimed, kept beside them
    replicate = rows["r1s0-replicate-1"]
    assert replicate.seed not in (0, 1)  # a verification seed of this job's own
    assert (replicate.result or {})["metrics"]["grader_seed"] == float(replicate.seed)  # the grader runs with the experiment's seed
    baseline = rows["root-baseline-0"].result or {}
    assert baseline["metrics"]["accuracy"] == 0.5 and baseline["self_reported"] == {"accuracy": 0.5}
    assert outcome.summary["best"]["metrics"]["accuracy"] == pytest.approx(0.75)
    report = Path(outcome.summary["report"]).read_text()
    assert "-r1s0-candidate-0 | 1 | candidate | 0 | {} | succeeded | 0.75 (self-reported 1) |" in report

    (finding_gate,) = [c for c in seen if c.kind == "finding"]
    assert any("reward-hacking signal: self-reported accuracy 1 differs from the grader's 0.75" in f
               for f in finding_gate.flagged)  # escalated to a human under auto
    (critique_prompt,) = llm.prompts("critique")
    assert "self-reported accuracy 1 differs from the grader's 0.75" in critique_prompt  # shown to the critique


# Looks for the hidden files' names and content everywhere it can reach: the whole filesystem
# tree, every process's root, cwd, environment, command line and open files. The visible
# protected file (TRAIN_FILE) is the positive control: the same search finds it.
SEARCHER = f'''
import json, os
from pathlib import Path
NAMES = {{"{GRADER_FILE}", "{HIDDEN_FOLDER}", "answers_4f9c.csv"}}
TOKEN = ("{SECRET[:7]}" + "{SECRET[7:]}").encode()  # built here: this file itself must not hold it
found_names, found_content, visible, scanned = [], [], [], 0

def read(path, limit=4_000_000):
    global scanned
    try:
        if os.path.isfile(path) and os.path.getsize(path) < limit:
            scanned += 1
            with open(path, "rb") as handle:
                if TOKEN in handle.read():
                    found_content.append(path)
    except OSError:
        pass

def walk(root, contents, skip=("/proc", "/sys", "/dev")):
    for folder, dirs, files in os.walk(root):
        rel = folder[len(root):] or "/"
        if rel.startswith(skip):
            dirs[:] = []
            continue
        for name in dirs + files:
            if name in NAMES:
                found_names.append(os.path.join(folder, name))
            if name == "{TRAIN_FILE}":
                visible.append(os.path.join(folder, name))
        if contents and not rel.startswith("/usr"):
            for name in files:
                read(os.path.join(folder, name))

walk("/", contents=True)
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for part in ("root", "cwd"):
        # /usr is the image's, walked from / above; a process's own root shows what it mounted
        walk(f"/proc/{{pid}}/{{part}}", contents=True, skip=("/proc", "/sys", "/dev", "/usr"))
    for part in ("environ", "cmdline", "mountinfo"):
        read(f"/proc/{{pid}}/{{part}}")
    try:
        for fd in os.listdir(f"/proc/{{pid}}/fd"):
            read(f"/proc/{{pid}}/fd/{{fd}}")
    except OSError:
        pass
for name in os.listdir("/submission") if os.path.isdir("/submission") else []:
    found_names.append("/submission/" + name)
out = Path(os.environ["LABLOOP_OUTPUT"])
(out / "found.json").write_text(json.dumps({{"names": found_names, "content": found_content}}))
(out / "predictions.csv").write_text("0\\n0\\n0\\n0\\n")
(out / "metrics.json").write_text(json.dumps({{"accuracy": 0.5, "found_names": len(found_names),
    "found_content": len(found_content), "visible": len(visible), "scanned": scanned}}))
'''


def test_an_experiment_that_searches_the_whole_container_finds_no_hidden_file(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_graded_task(tmp_path / "graded", code=SEARCHER, search={"parallel": 1})
    llm.add("ideate", IDEA)
    llm.add("implement", json.dumps({"explanation": "search again", "edits": [
        {"path": "predict.py", "search": "found_names, found_content, visible, scanned = [], [], [], 0",
         "replace": "found_names, found_content, visible, scanned = [], [], [], 0  # again"}]}))
    llm.add("review", REVIEW)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm",
                      gates={"idea": "never", "code": "never", "finding": "never"})

    assert outcome.status == "succeeded", outcome.error
    rows = _rows(store, outcome.job_id)
    for exp_id in ("root-baseline-0", "r1s0-candidate-0"):
        result = rows[exp_id].result or {}
        assert result["metrics"]["accuracy"] == 0.5  # graded: the grader ran with its hidden files
        own = result["self_reported"]
        found = (Path(rows[exp_id].output_dir) / "found.json").read_text()
        assert own["found_names"] == 0 and own["found_content"] == 0, found
        assert own["visible"] >= 1 and own["scanned"] > 100  # the search works: it sees what it may see
    # Nor do the prompts or the diffs carry the hidden files' content.
    assert all(SECRET not in json.dumps(r) and "one label per line" not in json.dumps(r) for r in llm.requests)
    assert all(SECRET not in r.diff and "one label per line" not in r.diff for r in rows.values())


def test_a_grader_failure_fails_the_run_with_the_graders_message_and_the_debug_step_reads_it(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_graded_task(tmp_path / "graded", budget={"iterations": 2}, search={"debug_prob": 1.0})
    llm.add("ideate", IDEA)
    llm.add("implement", NO_PREDICTIONS)
    llm.add("debug", FIXED)
    llm.add("review", REVIEW, REVIEW)
    llm.add("critique", CRITIQUE)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm",
                      gates={"idea": "never", "code": "never", "finding": "never"})

    assert outcome.status == "succeeded", outcome.error
    rows = _rows(store, outcome.job_id)
    failed = rows["r1s0-candidate-0"]
    assert failed.status == "failed"
    assert (failed.result or {})["error"].startswith("the grader failed: exited with code 1: no predictions")
    assert (failed.result or {})["metrics"] == {}
    (debug_prompt,) = llm.prompts("debug")
    assert "no predictions: write one label per line to $LABLOOP_OUTPUT/predictions.csv" in debug_prompt
    fixed = rows["r2s0-debug-0"].result or {}
    assert fixed["metrics"]["accuracy"] == 0.75 and fixed["self_reported"] == {}  # no metrics.json is fine
