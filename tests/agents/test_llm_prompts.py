"""What the llm strategy's prompts carry, read from the requests the scripted model received (real sandbox).

Data and descriptions are summarised, the file to edit is whole, the system prompt states the
image's package versions and the job's own budget, code steps may reply at length, optional
steps degrade instead of failing the job, and a human's reasons reach later code prompts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent
from typing import Any

from agents.task import load_task
from sandbox.runner import DockerSandbox
from services.jobs import new_job, template
from services.lifecycle import Lifecycle
from services.local_run import run_job_here
from services.outcomes import Checkpoint, Finished
from services.settings import Settings
from services.store import Store, events_after
from tests.agents.conftest import QUALITY, approve_all, make_task, model_parts, run_job
from tests.utils.fake_llm import FakeLLM, Scripted

IDEA = json.dumps({"title": "Raise the quality", "hypothesis": "a bonus lifts the score", "plan": "add a bonus"})
REVIEW = json.dumps({"summary": "it ran", "lesson": "quality() dominates the score"})
CRITIQUE = json.dumps({"soundness": "fine", "confounds": [], "ablation": "remove the bonus", "flaw": ""})


def change(old: str, new: str) -> str:
    return json.dumps({"explanation": f"{old} → {new}", "edits": [
        {"path": "experiment.py", "search": f"    return {old}", "replace": f"    return {new}"}]})


# The experiment reads its table; its score is still quality()'s.
HOUSES = QUALITY.replace("    import json, os\n", "    import csv, json, os\n").replace(
    '    seed = int(', '    rows = sum(1 for _ in csv.reader(open("train.csv")))\n    print(f"rows={rows}")\n    seed = int(')
ROWS = 16_000  # ~400 KB


def houses_task(folder: Path) -> Path:
    table = "Id,MSSubClass,LotArea,SalePrice\n" + "".join(
        f"row{i:06d},{20 + i % 7},{8000 + i},{100000 + 17 * i}\n" for i in range(ROWS))
    description = "".join(f"desc line {i:03d}: MSSubClass identifies the type of dwelling, code {i}\n"
                          for i in range(195))
    assert len(table) > 400_000 and 12_000 < len(description) < 14_000
    return make_task(folder, name="houses", code=HOUSES, budget={"iterations": 6},
                     extra={"train.csv": table, "data_description.txt": description})


def run_with_budget(store: Store, settings: Settings, task_dir: Path, sandbox: DockerSandbox,
                    budget: Mapping[str, Any]) -> Finished:
    """A job whose budget overrides the task's, driven to its end with every checkpoint approved."""
    job = template(task=load_task(task_dir).name, strategy="llm", budget=dict(budget))
    row = Lifecycle(store).create(new_job(store, settings, job, created_by="cli", folder=task_dir))
    outcome = run_job_here(store, settings, row.id, model_parts(sandbox, settings), on_checkpoint=approve_all)
    assert isinstance(outcome, Finished)
    return outcome


def test_data_and_descriptions_are_summarised_the_edited_file_is_whole_and_the_facts_are_the_jobs(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: DockerSandbox
) -> None:
    task = houses_task(tmp_path / "houses")
    llm.add("ideate", IDEA, IDEA)
    llm.add("implement", change("0.5", "0.75"), change("0.75", "0.8"))
    llm.add("review", REVIEW, REVIEW)
    llm.add("critique", CRITIQUE, CRITIQUE)
    outcome = run_with_budget(store, llm_settings, task, sandbox, {"iterations": 2})
    assert outcome.status == "succeeded", outcome.error
    assert llm.calls("implement") == 2 and llm.calls("critique") >= 1

    facts = sandbox.facts()
    numpy, sklearn = facts.version("numpy"), facts.version("scikit-learn")
    assert numpy and sklearn
    experiment = (task / "experiment.py").read_text()
    for request in llm.requests:
        text = "\n".join(m["content"] for m in request["messages"])
        assert len(set(re.findall(r"row\d{6}", text))) <= 20  # the table's rows: a handful, never the file
        assert len(set(re.findall(r"desc line \d{3}", text))) <= 60
        system = request["messages"][0]["content"]
        assert f"numpy {numpy}" in system and f"scikit-learn {sklearn}" in system and f"Python {facts.python}" in system
        assert "2 rounds of 1 branch(es)" in system and "256m memory" in system  # the job's budget, not the file's 6
        assert "iterations: 6" not in text  # task.yaml is not repeated
        code_step = request["messages"][0]["content"].startswith("You are labloop's research agent. Step: implement.")
        assert (request["max_tokens"] >= 8000) == code_step, (request["max_tokens"], system[:60])

    first, second = llm.prompts("implement")
    assert experiment in first  # the file the step edits, whole
    assert experiment.replace("return 0.5", "return 0.75") in second  # the parent's version, whole
    assert "columns (4): Id, MSSubClass, LotArea, SalePrice" in first and "row000004" in first
    assert "data_description.txt (description" in first and "the experiment can read the whole file" in first
    assert "[stdout]\nrows=16001" in second  # the parent's output tail


def test_a_critique_or_review_that_never_parses_leaves_a_succeeded_job_and_flags_the_finding(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: DockerSandbox
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 1})
    bad = json.dumps({"soundness": 3, "confounds": [], "ablation": "", "flaw": ""})  # a number, not text
    llm.add("ideate", IDEA)
    llm.add("implement", change("0.5", "0.55"))  # a 10 % gain: not flagged as large
    llm.add("review", "I think it went well.", "Sure!", "[]")
    llm.add("critique", bad, bad, bad)
    asked: list[Checkpoint] = []

    def decide(checkpoint: Checkpoint) -> dict[str, Any]:
        asked.append(checkpoint)
        return {"action": "approve", "by": "test"}

    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm",
                      on_checkpoint=decide)
    assert outcome.status == "succeeded", getattr(outcome, "error", None)
    assert llm.calls("critique") == 3
    (finding,) = outcome.summary["findings"]
    assert finding["accepted"] and finding["critique"]["soundness"].startswith("unavailable: ")
    assert "did not parse as CritiqueReply" in finding["critique"]["soundness"] and finding["critique"]["flagged"]
    (gate,) = asked  # auto asked a human about the finding, and only because the critique was missing
    assert gate.kind == "finding" and len(gate.flagged) == 1 and "critique is unavailable" in gate.flagged[0]
    report = Path(outcome.summary["report"]).read_text()
    assert "r1s0: the review is unavailable (the model's reply did not parse as Review" in report


def test_a_rejected_changes_reason_reaches_the_next_code_prompt_and_a_human_edit_reaches_the_review(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: DockerSandbox
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 2})
    reason = "log-transform skewed features first"
    llm.add("ideate", IDEA, IDEA)
    llm.add("implement", change("0.5", "0.75"), change("0.5", "0.75"))
    llm.add("review", REVIEW)
    llm.add("critique", CRITIQUE)
    edited = QUALITY.replace("return 0.5", "return 0.55")

    def decide(checkpoint: Checkpoint) -> dict[str, Any]:
        if checkpoint.kind != "code":
            return {"action": "approve", "by": "test"}
        if checkpoint.payload["iteration"] == 1:
            return {"action": "reject", "reason": reason, "by": "alice"}
        return {"action": "edit", "reason": "a gentler bonus", "by": "alice",
                "edit": {"files": {"experiment.py": dedent(edited).lstrip()}}}

    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm",
                      gates={"code": "always"}, on_checkpoint=decide)
    assert outcome.status == "succeeded", getattr(outcome, "error", None)
    first, second = llm.prompts("implement")
    assert reason not in first and reason in second  # the next code-change prompt of the job
    assert "a human rejected the code 'Raise the quality': " + reason in second
    (review,) = llm.prompts("review")
    assert "a human (alice) edited the code at its gate: rewrote experiment.py — a gentler bonus" in review
    assert "+    return 0.55" in review  # the diff that ran, the human's edit in it


def test_a_code_reply_cut_at_the_limit_ends_the_branch_with_a_clear_message_and_not_the_job(
    tmp_path: Path, llm: FakeLLM, home: Path, store: Store, sandbox: DockerSandbox
) -> None:
    settings = Settings(home=home, llm_base_url=llm.base_url, llm_model="fake-model", llm_max_retries=1,
                        llm_max_tokens_code=9000)
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 1})
    cut = Scripted(change("0.5", "0.75")[:60], finish_reason="length")
    llm.add("ideate", IDEA)
    llm.add("implement", cut, cut, cut)
    outcome = run_job(store, settings, task, model_parts(sandbox, settings), strategy="llm")

    assert outcome.status == "succeeded", getattr(outcome, "error", None)
    assert [r["max_tokens"] for r in llm.requests[1:]] == [9000, 9000, 9000]
    assert "Your reply was cut off at 9000 tokens" in llm.requests[2]["messages"][-1]["content"]
    node, *_fate = [e.data for e in events_after(store, outcome.job_id, limit=10_000)
                    if e.kind == "tree" and e.data.get("node") == "r1s0"]
    assert node["status"] == "failed"
    assert "cut off at 9000 tokens" in node["error"] and "raise LABLOOP_LLM_MAX_TOKENS_CODE" in node["error"]
    assert outcome.summary["best"]["metrics"]["score"] == 0.5  # nothing ran: the baseline stands


def test_an_idea_reply_that_never_parses_ends_the_branch_and_not_the_job(
    tmp_path: Path, llm: FakeLLM, home: Path, store: Store, sandbox: DockerSandbox
) -> None:
    settings = Settings(home=home, llm_base_url=llm.base_url, llm_model="fake-model", llm_max_retries=1)
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 2})
    broken = '{"title": 3, "plan": ["not", "a", "plan"]}'
    llm.add("ideate", broken, broken, broken, IDEA)
    llm.add("implement", change("0.5", "0.75"))
    outcome = run_job(store, settings, task, model_parts(sandbox, settings), strategy="llm")

    assert outcome.status == "succeeded", getattr(outcome, "error", None)
    trees = [e.data for e in events_after(store, outcome.job_id, limit=10_000) if e.kind == "tree"]
    first = next(t for t in trees if t.get("node") == "r1s0")
    assert first["status"] == "failed" and first["error"].startswith("no usable idea: ")
    # The next round ideates again, and its change runs.
    assert any(t.get("node", "").startswith("r2") and t.get("status") == "succeeded" for t in trees), trees
