"""The job's LLM totals in ``llm`` events only grow, though parallel branches each count their own."""

from __future__ import annotations

import json
from pathlib import Path

from services.settings import Settings
from services.store import Store, events_after
from tests.agents.conftest import QUALITY, make_task, model_parts, run_job
from tests.utils.fake_llm import FakeLLM, Scripted

IDEA = json.dumps({"title": "Raise the quality", "hypothesis": "a bonus lifts the score", "plan": "add a bonus",
                   "params": {}})
BONUS = json.dumps({"explanation": "add a bonus", "edits": [
    {"path": "experiment.py", "search": "    return 0.5", "replace": "    return 0.5 + 0.25"}]})
SMALL_BONUS = json.dumps({"explanation": "add a small bonus", "edits": [
    {"path": "experiment.py", "search": "    return 0.5", "replace": "    return 0.5 + 0.1"}]})
REVIEW = json.dumps({"summary": "the bonus lifted the score", "lesson": "quality() dominates the score"})
CRITIQUE = json.dumps({"soundness": "a constant bonus", "confounds": [], "ablation": "remove the bonus", "flaw": ""})


def test_job_tokens_never_go_backwards_over_two_parallel_branches(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 1},
                     search={"parallel": 2, "drafts": 1})
    # Very different costs per call, so whichever branch reports second would, counted alone from the
    # round's start, report a smaller job total than the first one did.
    llm.add("ideate", Scripted(IDEA, prompt_tokens=1900, completion_tokens=100),
            Scripted(IDEA, prompt_tokens=90, completion_tokens=10))
    llm.add("implement", Scripted(BONUS, prompt_tokens=50, completion_tokens=10),
            Scripted(SMALL_BONUS, prompt_tokens=1200, completion_tokens=300))
    llm.add("review", Scripted(REVIEW, prompt_tokens=700, completion_tokens=20),
            Scripted(REVIEW, prompt_tokens=30, completion_tokens=5))
    llm.add("critique", CRITIQUE, CRITIQUE)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    events = [e.data for e in events_after(store, outcome.job_id, limit=10_000) if e.kind == "llm"]
    totals = [e["job_tokens"] for e in events]
    assert len(totals) >= 6, events  # two branches × (ideate, implement, review)
    assert totals == sorted(totals), totals  # monotonic: never 2290 → 2158
    assert len(set(totals)) == len(totals)  # every step spent something, and each total says so
    assert totals[-1] == outcome.summary["llm_tokens"]  # the last total is the job's
