"""The tree of solutions with a scripted model: changes compound, prompts carry context, findings
are verified against the incumbent and critiqued (real sandbox, real SQLite, real checkpointer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.outcomes import Checkpoint
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import make_task, model_parts, run_job
from tests.utils.fake_llm import FakeLLM

# Two settings that pay off only together: SCALE alone or SHIFT alone leave the score at 0.5.
COMBO = '''
    import json, os
    from pathlib import Path

    SCALE = 1.0
    SHIFT = 0.0
    BONUS = 0.0


    def quality():
        return 0.5 + (0.25 if SCALE == 2.0 and SHIFT == 1.0 else 0.0) + BONUS


    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    score = quality() + 0.01 * (seed % 5)
    out = Path(os.environ["LABLOOP_OUTPUT"])
    (out / "metrics.json").write_text(json.dumps({"score": score}))
'''


def _idea(title: str) -> str:
    return json.dumps({"title": title, "hypothesis": f"{title} lifts the score", "plan": title, "params": {}})


def _edit(search: str, replace: str) -> str:
    return json.dumps({"explanation": f"{search} -> {replace}",
                       "edits": [{"path": "experiment.py", "search": search, "replace": replace}]})


def _review(lesson: str) -> str:
    return json.dumps({"summary": "ran", "lesson": lesson})


def _critique(flaw: str = "") -> str:
    return json.dumps({"soundness": "plausible", "confounds": ["the seed offset"], "ablation": "revert the bonus",
                       "flaw": flaw})


LESSON = "SCALE = 2.0 alone changes nothing; it needs SHIFT = 1.0 beside it"





def test_two_changes_that_pay_off_only_together_compound_and_prompts_carry_code_and_lessons(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "combo", name="combo", code=COMBO, budget={"iterations": 2},
                     search={"debug_prob": 0.0})
    llm.add("ideate", _idea("Double the scale"), _idea("Shift by one"))
    llm.add("implement", _edit("SCALE = 1.0", "SCALE = 2.0"), _edit("SHIFT = 0.0", "SHIFT = 1.0"))
    llm.add("review", _review(LESSON), _review("together they pay off"))
    llm.add("critique", _critique())
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    first_idea, second_idea = llm.prompts("ideate")
    first_code, second_code = llm.prompts("implement")
    assert "SCALE = 1.0" in first_code and "SCALE = 2.0" not in first_code  # a draft starts from the root
    assert "SCALE = 2.0" in second_code and "SHIFT = 0.0" in second_code  # the improve starts from its parent
    assert "node r1s0" in second_code
    assert LESSON not in first_idea and LESSON in second_idea  # the review's lesson reaches later prompts
    assert LESSON in llm.prompts("review")[1]
    assert "r1s0" in second_idea and "FAILED" not in second_idea  # the tree summary

    (finding,) = outcome.summary["findings"]
    assert finding["accepted"] and finding["experiment_id"].endswith("-r2s0-candidate-0")
    assert outcome.summary["best"]["metrics"]["score"] == pytest.approx(0.75)
    rows = {r.id.removeprefix(outcome.job_id + "-"): r for r in list_experiments(store, outcome.job_id)}
    assert "+SCALE = 2.0" in rows["r2s0-candidate-0"].diff and "+SHIFT = 1.0" in rows["r2s0-candidate-0"].diff
    report = Path(outcome.summary["report"])
    text = report.read_text()
    assert "## Incumbent" in text and "root → r1s0 → r2s0" in text
    assert "+SCALE = 2.0" in text.split("## Incumbent", 1)[1].split("## Findings", 1)[0]
    assert "## Tree of solutions" in text and (report.parent / "tree.png").stat().st_size > 1000


def test_a_finding_is_verified_against_the_incumbent_and_a_critique_that_names_a_flaw_asks_a_human(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "bonus", name="bonus", code=COMBO, budget={"iterations": 2},
                     search={"debug_prob": 0.0})
    flaw = "the bonus is added to the score directly: it games the metric"
    llm.add("ideate", _idea("Add a small bonus"), _idea("Add a larger bonus"))
    llm.add("implement", _edit("BONUS = 0.0", "BONUS = 0.05"), _edit("BONUS = 0.05", "BONUS = 0.09"))
    llm.add("review", _review("a bonus helps"), _review("a larger bonus helps more"))
    llm.add("critique", _critique(), _critique(flaw))
    asked: list[Checkpoint] = []

    def decide(cp: Checkpoint) -> dict[str, Any]:
        asked.append(cp)
        return {"action": "reject", "reason": "agreed with the critique", "by": "frank"}

    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm",
                      gates={"finding": "auto"}, on_checkpoint=decide)

    assert outcome.status == "succeeded", outcome.error
    first, second = outcome.summary["findings"]
    assert first["accepted"] and first["mean_gain"] == pytest.approx(0.05)
    assert not second["accepted"] and second["mean_gain"] == pytest.approx(0.04)  # 0.59 vs the incumbent's 0.55
    (cp,) = asked  # only the flagged finding reached a human, with its critique
    assert cp.kind == "finding" and cp.payload["critique"]["flaw"] == flaw
    assert cp.flagged == [f"the critique names a flaw: {flaw}"]  # the gain alone (18 %) is not flagged
    assert cp.payload["verdict"]["against"] == "r1s0"
    assert outcome.summary["best"]["metrics"]["score"] == pytest.approx(0.55)  # the rejected one did not replace it

    rows = [r.id.removeprefix(outcome.job_id + "-") for r in list_experiments(store, outcome.job_id)]
    assert len(rows) == len(set(rows))
    assert {"r1s0-replicate-1", "r1s0-replicate-2", "root-baseline-1", "root-baseline-2"} <= set(rows)
    report = Path(outcome.summary["report"]).read_text()
    assert "against the incumbent `r1s0`" in report and "overall gain over the baseline: 0.09" in report
    assert flaw in report and "(**flagged**)" in report


def test_a_new_incumbent_with_two_parts_is_ablated_and_the_ablation_is_reported(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "parts", name="parts", code=COMBO, budget={"iterations": 2},
                     search={"debug_prob": 0.0})
    change = json.loads(_edit("BONUS = 0.0", "BONUS = 0.25"))
    change["params"] = {"note": 1}  # a second part: params.json beside the code change
    llm.add("ideate", _idea("Add a bonus and a note"))
    llm.add("implement", json.dumps(change))
    llm.add("review", _review("the bonus helps"), _review("without the code change the gain is gone"))
    llm.add("critique", _critique())
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    assert llm.calls("ideate") == llm.calls("implement") == 1  # the ablation asks no model for an idea or code
    rows = {r.id.removeprefix(outcome.job_id + "-"): r for r in list_experiments(store, outcome.job_id)}
    ablation = rows["r2s0-candidate-0"]
    assert ablation.params == {"note": 1} and "BONUS = 0.25" not in ablation.diff  # the code part reverted
    assert (ablation.result or {})["metrics"]["score"] == pytest.approx(0.5)
    report = Path(outcome.summary["report"]).read_text()
    assert "## Ablations" in report and "| r2s0 | r1s0 | revert experiment.py | 0.5 | -0.25 |" in report
