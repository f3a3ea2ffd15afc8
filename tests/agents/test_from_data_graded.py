"""The example graded task started from data: the model drafts from the data, the grader scores the draft.

tasks/election96 without its experiment.py, the scripted model, the real sandbox and grader.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import model_parts, run_job
from tests.utils.fake_llm import FakeLLM

EXAMPLE = Path(__file__).resolve().parents[2] / "tasks" / "election96"
IDEA = json.dumps({"title": "Logistic regression", "hypothesis": "party identification predicts the vote",
                   "plan": "fit a scaled logistic regression on every survey column; write predictions.csv",
                   "params": {}})
REVIEW = json.dumps({"summary": "graded", "lesson": "a linear model is a fair start"})


def test_the_example_task_started_from_data_is_drafted_and_graded_on_hidden_labels(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = shutil.copytree(EXAMPLE, tmp_path / "election96")
    solution = (task / "experiment.py").read_text()
    hidden_labels = "".join((task / "private" / "test_labels.csv").read_text().splitlines(keepends=True)[:4])
    (task / "experiment.py").unlink()
    spec = (task / "task.yaml").read_text().replace("iterations: 4", "iterations: 1")
    (task / "task.yaml").write_text(spec.replace("search: {parallel: 2}", "search: {parallel: 1}"))
    llm.add("ideate", IDEA)
    llm.add("draft", json.dumps({"explanation": "the first solution",
                                 "files": [{"path": "experiment.py", "content": solution}]}))
    llm.add("review", REVIEW)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    (run,) = list_experiments(store, outcome.job_id)
    assert run.id.endswith("-r1s0-candidate-0") and run.status == "succeeded"
    first = outcome.summary["first_incumbent"]
    assert outcome.summary["baseline"] is None and first["node"] == "r1s0"
    assert set(first["metrics"]) == {"log_loss", "accuracy"}  # the grader's metrics are the draft's
    assert 0.0 < first["metrics"]["log_loss"] < 0.6931
    assert set((run.result or {}).get("self_reported") or {}) == {"cv_log_loss"}

    (idea_prompt,) = llm.prompts("ideate")
    (draft_prompt,) = llm.prompts("draft")
    for prompt in (idea_prompt, draft_prompt):
        assert "train.csv (" in prompt and "id,popul,TVnews" in prompt  # the listing, the first rows
        assert "Dole" in prompt and "A grader you cannot see computes log_loss" in prompt
        assert "grade.py (" not in prompt and "private/test_labels.csv (" not in prompt  # never listed
        assert "def read_predictions" not in prompt and hidden_labels not in prompt  # nor their contents
    assert pytest.approx(outcome.summary["best"]["metrics"]["log_loss"]) == first["metrics"]["log_loss"]
