"""The llm strategy against a real local OpenAI-compatible server replaying scripted replies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.settings import Settings
from services.store import Store, events_after, get_job, list_experiments
from tests.agents.conftest import QUALITY, make_task, model_parts, run_job
from tests.utils.fake_llm import FakeLLM, Scripted

IDEA = json.dumps({"title": "Raise the quality", "hypothesis": "a bonus term lifts the score",
                   "plan": "add a bonus to quality()", "params": {}})
BROKEN = json.dumps({"explanation": "add a bonus", "edits": [
    {"path": "experiment.py", "search": "    return 0.5", "replace": "    return 0.5 + undefined_bonus"}]})
FIXED = json.dumps({"explanation": "define the bonus", "edits": [
    {"path": "experiment.py", "search": "0.5 + undefined_bonus", "replace": "0.5 + 0.25"}]})
REVIEW = json.dumps({"summary": "the bonus lifted the score", "lesson": "quality() dominates the score"})
CRITIQUE = json.dumps({"soundness": "a constant bonus", "confounds": [], "ablation": "remove the bonus", "flaw": ""})





def test_idea_edit_failure_debug_fix_and_verified_finding(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 2},
                     search={"debug_prob": 1.0})
    llm.add("ideate", IDEA)
    llm.add("implement", BROKEN)
    llm.add("debug", FIXED)
    llm.add("review", REVIEW, REVIEW)
    llm.add("critique", CRITIQUE)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    rows = {r.id.removeprefix(outcome.job_id + "-"): r for r in list_experiments(store, outcome.job_id)}
    assert rows["r1s0-candidate-0"].status == "failed"  # round 1 drafts from the root, and fails
    assert "NameError" in (rows["r1s0-candidate-0"].result or {}).get("stderr_tail", "")
    assert rows["r2s0-debug-0"].status == "succeeded"  # round 2 repairs the failed node from its files
    assert "+    return 0.5 + 0.25" in rows["r2s0-debug-0"].diff
    assert {"root-baseline-1", "root-baseline-2", "r2s0-replicate-1", "r2s0-replicate-2"} <= set(rows)

    (debug_prompt,) = llm.prompts("debug")
    assert "NameError: name 'undefined_bonus' is not defined" in debug_prompt  # the traceback
    assert ">>" in debug_prompt and "return 0.5 + undefined_bonus" in debug_prompt  # the line it points at

    (finding,) = outcome.summary["findings"]
    assert finding["accepted"] and finding["experiment_id"].endswith("-r2s0-debug-0")
    assert finding["mean_gain"] == pytest.approx(0.25)
    assert outcome.summary["best"]["metrics"]["score"] == pytest.approx(0.75)
    assert llm.calls() == 6 and outcome.summary["llm_tokens"] > 0


def test_a_reply_that_is_not_json_is_retried_then_its_branch_ends_and_the_job_goes_on(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 1})
    llm.add("ideate", "Sure! Here is an idea: make it better.", '{"title": ', "```json\n[1, 2]\n```")
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    # An idea is needed to go on in this branch, not in the job: the branch ends as a failed node.
    assert outcome.status == "succeeded", outcome.error
    failed = [e.data for e in events_after(store, outcome.job_id, limit=1000) if e.kind == "tree"]
    assert failed and failed[0]["status"] == "failed"
    assert "no usable idea: " in failed[0]["error"] and "did not parse as Idea after 3 attempts" in failed[0]["error"]
    assert llm.calls("ideate") == 3
    retry = llm.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "Sure! Here is an idea: make it better."}
    assert "could not be used" in retry[-1]["content"]
    assert get_job(store, outcome.job_id).error is None  # no traceback, nothing recorded as a job error
    assert [r.role for r in list_experiments(store, outcome.job_id)] == ["baseline"]


def test_the_token_budget_stops_the_job_before_the_call_that_would_exceed_it(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    budget = 4000  # a call may take its prompt plus its step's max_tokens (2000 for ideas, 8000 for code)
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY,
                     budget={"iterations": 2, "llm_tokens": budget})
    llm.add("ideate", Scripted(IDEA, prompt_tokens=2400, completion_tokens=100))  # 2500 of 4000 used
    llm.add("implement", BROKEN)  # never asked: it could take more than the 1500 left
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    assert llm.calls() == 1 and llm.calls("implement") == 0
    assert outcome.summary["llm_tokens"] == 2500 <= budget
    assert outcome.summary["stop_reason"].startswith("LLM token budget reached: 2500 of 4000")
    assert Path(outcome.summary["report"]).is_file()
