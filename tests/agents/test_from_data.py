"""Tasks that start from data: no solution file, so the llm strategy drafts, adopts and then verifies.

The model is the scripted fake LLM; every experiment runs in the real sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents import tree
from agents.drafting import entry_file
from agents.state import ROOT, Idea, Node
from agents.task import load_task
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import make_task, model_parts, run_job
from tests.utils.fake_llm import FakeLLM

DATA = "x,y\n1,2\n2,4\n3,6\n"
DESCRIPTION = "data.csv: three rows of x and y = 2x. The score is the quality of the fit (higher is better).\n"

# A draft that reads the data and scores 0.5 (+ a small offset per seed: the seed stands for the split).
SOLUTION = '''import json, os
from pathlib import Path


def quality():
    return 0.5


rows = Path("data.csv").read_text().splitlines()[1:]
seed = int(os.environ.get("LABLOOP_SEED", "0"))
score = quality() + 0.01 * (seed % 5)
print(f"read {len(rows)} rows; score {score}")
Path(os.environ["LABLOOP_OUTPUT"], "metrics.json").write_text(json.dumps({"score": score, "rows": len(rows)}))
'''


def _idea(title: str) -> str:
    return json.dumps({"title": title, "hypothesis": "a fit of y on x", "plan": "read data.csv, fit, score",
                       "params": {}})


def _draft(content: str) -> str:
    return json.dumps({"explanation": "the whole first solution", "files": [{"path": "experiment.py",
                                                                               "content": content}]})


REVIEW = json.dumps({"summary": "ran", "lesson": "quality() sets the score"})
IMPROVE = json.dumps({"explanation": "a better fit", "edits": [
    {"path": "experiment.py", "search": "    return 0.5", "replace": "    return 0.75"}]})
CRITIQUE = json.dumps({"soundness": "a better fit", "confounds": [], "ablation": "undo it", "flaw": ""})


def data_task(folder: Path, **spec: object) -> Path:
    """A task with data, a description and an entrypoint, but no experiment.py."""
    task = make_task(folder, name="fromdata", code="", extra={"data.csv": DATA, "data_description.txt": DESCRIPTION},
                     **spec)  # type: ignore[arg-type]
    (task / "experiment.py").unlink()
    return task


def test_a_task_without_its_solution_file_is_drafted_adopted_and_then_verified(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = data_task(tmp_path / "fromdata", budget={"iterations": 3}, search={"debug_prob": 0.0})
    llm.add("ideate", _idea("Linear fit"), _idea("Plain scorer"), _idea("Better fit"))
    llm.add("draft", _draft(SOLUTION.replace("return 0.5", "return 0.5 + undefined_bonus")), _draft(SOLUTION))
    llm.add("implement", IMPROVE)
    llm.add("review", REVIEW, REVIEW, REVIEW)
    llm.add("critique", CRITIQUE)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    rows = {r.id.removeprefix(outcome.job_id + "-"): r for r in list_experiments(store, outcome.job_id)}
    assert not [r for r in rows if r.startswith("root-")]  # the root has no solution: never run
    assert rows["r1s0-candidate-0"].status == "failed"  # round 1 drafts, and the draft fails
    assert rows["r2s0-candidate-0"].status == "succeeded"  # every draft failed: round 2 drafts again
    assert "+def quality():" in rows["r2s0-candidate-0"].diff  # a whole new file from the root
    replicated = {r.removesuffix("-" + r.rsplit("-", 1)[1]) for r in rows if "-replicate-" in r}
    assert replicated == {"r3s0-replicate", "r2s0-replicate"}  # round 3's candidate against the first incumbent

    summary = outcome.summary
    assert summary["baseline"] is None and summary["no_baseline"] == "experiment.py"
    assert summary["first_incumbent"]["node"] == "r2s0"
    assert summary["first_incumbent"]["metrics"]["score"] == pytest.approx(0.5)
    (finding,) = summary["findings"]
    assert finding["accepted"] and finding["node"] == "r3s0" and finding["against"] == "r2s0"
    assert finding["mean_gain"] == pytest.approx(0.25) and finding["baseline_gain"] == pytest.approx(0.25)
    assert summary["best"]["node"] == "r3s0" and summary["best"]["metrics"]["score"] == pytest.approx(0.75)
    json.dumps(summary)  # `labloop run --json` prints it

    report = Path(summary["report"]).read_text()
    assert "There was no baseline: the task folder had no `experiment.py`" in report
    assert "node `r2s0`" in report and "became the first incumbent" in report
    assert "overall gain over the first incumbent `r2s0`" in report
    assert "overall gain over the baseline" not in report
    assert "| r2s0 | root | draft |" in report and "| adopted |" in report

    first_idea, second_idea, _improve = llm.prompts("ideate")
    assert "There is no solution yet" in first_idea and "data.csv (" in first_idea  # the listing, with sizes
    assert "x,y\n1,2" in first_idea and "y = 2x" in first_idea  # the table's first rows, the description
    assert "FAILED" in second_idea and "NameError" in second_idea  # the failed draft is in the tree it is shown
    assert all("Write the whole first solution" in p for p in llm.prompts("draft"))


def test_parallel_slots_draft_together_and_the_best_graded_draft_is_adopted(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = data_task(tmp_path / "fromdata", budget={"iterations": 1}, search={"parallel": 2})
    llm.add("ideate", _idea("Draft one"), _idea("Draft two"))
    llm.add("draft", _draft(SOLUTION), _draft(SOLUTION.replace("return 0.5", "return 0.6")))
    llm.add("review", REVIEW, REVIEW)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    roles = sorted(r.id.removeprefix(outcome.job_id + "-") for r in list_experiments(store, outcome.job_id))
    assert roles == ["r1s0-candidate-0", "r1s1-candidate-0"]  # two drafts, nothing else ran
    adopted = outcome.summary["first_incumbent"]
    assert adopted["metrics"]["score"] == pytest.approx(0.6)  # the better of the two, on seed 0
    assert outcome.summary["best"]["node"] == adopted["node"] and outcome.summary["findings"] == []
    assert llm.calls("draft") == 2 and llm.calls("implement") == 0


def _node(id_: str, *, status: str, parent: str | None = ROOT, operator: str = "draft", value: float | None = None,
          files: dict[str, str] | None = None) -> Node:
    return Node(id=id_, parent=parent, operator=operator, round=0 if id_ == ROOT else 1, debug_depth=0,  # type: ignore[typeddict-item]
                idea=Idea(title=id_, hypothesis="", plan="", params={}, source="llm"), files=files or {}, params={},
                diff="", explanation="", status=status, value=value, metrics={}, error=None, output_tail="",
                experiment_id=None, fate="", summary="", lesson="", verdict=None, critique=None)


def test_selection_drafts_while_nothing_has_run_and_then_improves(tmp_path: Path) -> None:
    task = load_task(data_task(tmp_path / "fromdata", search={"parallel": 3, "debug_prob": 1.0}))
    empty = _node(ROOT, status="empty", parent=None, operator="root")
    first = tree.select_expansions(task, job_id="j", round_=1, nodes=[empty], incumbent=ROOT, strategy="llm")
    assert [e["operator"] for e in first] == ["draft", "draft", "draft"]  # every slot drafts from the root

    failed = [empty, *(_node(f"r1s{i}", status="failed", files={"experiment.py": "boom"}) for i in range(3))]
    again = tree.select_expansions(task, job_id="j", round_=2, nodes=failed, incumbent=ROOT, strategy="llm")
    assert [e["operator"] for e in again] == ["debug", "debug", "debug"]  # debug_prob 1: each failed draft

    ran = [empty, _node("r1s0", status="succeeded", value=0.5, files={"a.py": "1", "b.py": "2"})]
    later = tree.select_expansions(task, job_id="j", round_=2, nodes=ran, incumbent="r1s0", strategy="llm")
    assert later[0]["operator"] == "improve"  # no ablation of a draft from nothing: it is all one part


@pytest.mark.parametrize(("entrypoint", "expected"), [
    ("python experiment.py", "experiment.py"), ("python3 -u src/main.py --out_dir run_0", "src/main.py"),
    ("bash ./run.sh", "run.sh"), ("python -m package.main", None), ("make", None), ("/opt/run.py", None),
    ("python ../outside.py", None), ("python 'unclosed", None),
])
def test_the_entry_file_is_read_from_the_entrypoint(entrypoint: str, expected: str | None) -> None:
    assert entry_file(entrypoint) == expected
