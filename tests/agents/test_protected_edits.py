"""Edits of protected files are refused before they run, and the job goes on.

One job, nine rounds. Rounds 1–4: the model's change touches, in turn, an evaluation file, a
``protect`` file, task.yaml and labloop.yaml (whole files and search/replace edits): each is
refused before the code gate. Rounds 5–8: the model's change is harmless, and a human's edit at
the code gate touches the same four kinds: each is refused. Round 9 runs and is graded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.protected import REFUSED
from services.outcomes import Checkpoint
from services.settings import Settings
from services.store import Store, events_after, list_experiments
from tests.agents.conftest import model_parts, run_job
from tests.agents.test_llm_job import CRITIQUE, IDEA, REVIEW
from tests.utils.fake_llm import FakeLLM
from tests.utils.graded import GRADER_FILE, LABELS_FILE, TRAIN_FILE, make_graded_task, predictor

MODEL_EDITS = [
    (GRADER_FILE, {"files": [{"path": GRADER_FILE, "content": "print('everything is perfect')\n"}]}),
    (TRAIN_FILE, {"files": [{"path": f"./{TRAIN_FILE}", "content": "x,y\n1,1\n"}]}),
    ("task.yaml", {"edits": [{"path": "task.yaml", "search": "direction: maximize", "replace": "direction: minimize"}]}),
    ("labloop.yaml", {"files": [{"path": "labloop.yaml", "content": "metric: {name: accuracy}\n"}]}),
]
HUMAN_EDITS = [
    (LABELS_FILE, {LABELS_FILE: "0\n0\n0\n0\n"}),
    (TRAIN_FILE, {TRAIN_FILE: "x,y\n"}),
    ("task.yaml", {"task.yaml": "name: graded\n"}),
    ("labloop.yaml", {"sub/../labloop.yaml": "metric: {name: accuracy}\n"}),
]
HARMLESS = json.dumps({"explanation": "predict the last row as 1", "files": [
    {"path": "predict.py", "content": predictor(["0", "1", "1", "1"], claimed=0.75)}]})


def test_model_and_human_edits_of_each_protected_kind_are_refused_and_the_job_goes_on(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_graded_task(tmp_path / "graded", budget={"iterations": 9})
    llm.add("ideate", *[IDEA] * 9)
    llm.add("implement", *[json.dumps({"explanation": "edit", **edit}) for _, edit in MODEL_EDITS], *[HARMLESS] * 5)
    llm.add("review", REVIEW)
    llm.add("critique", CRITIQUE)
    code_gates: list[Checkpoint] = []

    def decide(checkpoint: Checkpoint) -> dict[str, Any]:
        if checkpoint.kind != "code":
            return {"action": "approve", "by": "test"}
        code_gates.append(checkpoint)
        if len(code_gates) <= len(HUMAN_EDITS):
            return {"action": "edit", "edit": {"files": HUMAN_EDITS[len(code_gates) - 1][1]}, "by": "alice"}
        return {"action": "approve", "by": "alice"}

    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm",
                      gates={"idea": "never", "code": "always", "finding": "auto"}, on_checkpoint=decide)

    assert outcome.status == "succeeded", outcome.error
    assert len(code_gates) == 5  # the model's refused changes never reached the gate: refused before it
    ran = {r.id.removeprefix(outcome.job_id + "-").split("-")[0] for r in list_experiments(store, outcome.job_id)}
    assert ran == {"root", "r9s0"}  # nothing refused ran; the job went on to round 9
    assert outcome.summary["best"]["metrics"]["accuracy"] == 0.75  # graded

    refused = {e.data["node"]: e.data.get("refused") for e in events_after(store, outcome.job_id, 0, limit=10_000)
               if e.kind == "tree" and e.data.get("status") == "rejected"}
    expected = [path for path, _ in MODEL_EDITS] + [path for path, _ in HUMAN_EDITS]
    assert refused == {f"r{n}s0": f"{REFUSED}: {path}" if path != "labloop.yaml" or n < 5
                       else f"{REFUSED}: sub/../labloop.yaml" for n, path in enumerate(expected, start=1)}
    report = Path(outcome.summary["report"]).read_text()
    refusals = report.split("## Refused edits", 1)[1]
    for n, path in enumerate(expected, start=1):
        assert f"node r{n}s0: refused a change ({REFUSED}: " in report  # a note, and a section of its own
        assert f"round {n}, node r{n}s0 (Raise the quality): {REFUSED}: " in refusals and path.split("/")[-1] in refusals
    later_ideas = llm.prompts("ideate")[1]
    assert f"{REFUSED}: {GRADER_FILE}" in later_ideas  # the model is told why, like a human rejection
