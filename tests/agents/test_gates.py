"""Human gates: a rejection's reason reaches the next ideation; an edit at the code gate is what runs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from services.collaborators import Collaborators, chat_model
from services.lifecycle import Lifecycle
from services.local_run import run_job_here
from services.memory import LexicalEmbedder, open_memory
from services.outcomes import Checkpoint
from services.settings import Settings
from services.store import (
    Store,
    get_job,
    list_checkpoints,
    list_decisions,
    list_experiments,
)
from tests.agents.conftest import (
    QUAD_SPACE,
    QUADRATIC,
    QUALITY,
    create_research_job,
    make_task,
    run_job,
)
from tests.utils.fake_llm import FakeLLM

REASON = "never touch the random seed: the split must stay comparable"


def test_a_rejected_ideas_reason_appears_in_the_next_ideation_prompt(
    tmp_path: Path, home: Path, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 2})
    first = {"title": "Fix the seed to 0", "hypothesis": "seed 0 scores best", "plan": "ignore LABLOOP_SEED"}
    second = {"title": "Raise the quality", "hypothesis": "a bonus lifts the score", "plan": "add a bonus"}
    asked: list[Checkpoint] = []

    def decide(cp: Checkpoint) -> dict[str, Any]:
        asked.append(cp)
        return {"action": "reject", "reason": REASON if len(asked) == 1 else "not now", "by": "alice"}

    with FakeLLM({"ideate": [json.dumps(first), json.dumps(second)]}) as llm:
        settings = Settings(home=home, llm_base_url=llm.base_url, llm_model="fake")
        memory = open_memory(settings, embedder=LexicalEmbedder())
        parts = Collaborators(runner=sandbox, model=chat_model(settings), memory=memory)  # type: ignore[arg-type]
        outcome = run_job(store, settings, task, parts, strategy="llm", gates={"idea": "always"},
                          on_checkpoint=decide)
        first_prompt, second_prompt = llm.prompts("ideate")

    assert outcome.status == "succeeded", outcome.error
    assert [cp.kind for cp in asked] == ["idea", "idea"]
    assert asked[0].payload["title"] == "Fix the seed to 0"
    assert REASON not in first_prompt
    assert REASON in second_prompt and "Fix the seed to 0" in second_prompt
    decisions = list_decisions(store, outcome.job_id)
    assert [(d.action, d.decided_by) for d in decisions] == [("reject", "alice"), ("reject", "alice")]
    assert all(c.status == "decided" for c in list_checkpoints(store, job_id=outcome.job_id))
    feedback = memory.records("feedback", where={"job_id": outcome.job_id})
    assert REASON in {r.metadata.get("reason") for r in feedback}  # kept so later jobs avoid it too
    assert [r.role for r in list_experiments(store, outcome.job_id)] == ["baseline"]  # nothing rejected ran
    report = Path(outcome.summary["report"]).read_text()
    assert REASON in report and "alice" in report


EDITED = textwrap.dedent(QUADRATIC).lstrip().replace(
    '{"score": score}', '{"score": score, "edited_by_human": 1}')


def test_an_edit_at_the_code_gate_is_what_runs(tmp_path: Path, settings: Settings, store: Store,
                                              sandbox: object) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 1})
    optimum = {"x": 1.5, "y": -0.5}

    def edit(cp: Checkpoint) -> dict[str, Any]:
        if cp.kind != "code":
            return {"action": "approve", "by": "bob"}
        assert cp.payload["params"] != optimum and "params.json" in cp.payload["diff"]
        return {"action": "edit", "edit": {"params": optimum, "files": {"experiment.py": EDITED}},
                "reason": "try the known optimum", "by": "bob"}

    outcome = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search",  # type: ignore[arg-type]
                      gates={"code": "always"}, on_checkpoint=edit)

    assert outcome.status == "succeeded", outcome.error
    rows = {r.role + str(r.iteration): r for r in list_experiments(store, outcome.job_id)}
    ran = rows["candidate1"]
    assert ran.params == optimum
    assert ran.result is not None and ran.result["metrics"] == {"score": 0.0, "edited_by_human": 1.0}
    assert '"edited_by_human": 1' in ran.diff
    assert Path(ran.output_dir).parent.joinpath("workspace", "experiment.py").read_text() == EDITED
    (finding,) = outcome.summary["findings"]
    assert finding["params"] == optimum and finding["accepted"]
    (decision,) = [d for d in list_decisions(store, outcome.job_id) if d.action == "edit"]
    assert decision.decided_by == "bob" and decision.edit is not None and decision.edit["params"] == optimum


def test_a_pending_checkpoint_waits_and_a_recorded_decision_resumes_the_job(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 1})
    parts = Collaborators(runner=sandbox)  # type: ignore[arg-type]
    job_id, _ = create_research_job(store, settings, task, strategy="search",
                                    gates={"idea": "always", "code": "never", "finding": "never"})

    waiting = run_job_here(store, settings, job_id, parts)  # no handler: the job waits, as under the HTTP API
    assert waiting.status == "waiting" and get_job(store, job_id).status == "waiting"
    assert waiting.checkpoint is not None and waiting.checkpoint.kind == "idea"
    (pending,) = list_checkpoints(store, job_id=job_id, status="pending")
    assert pending.id == waiting.checkpoint.id and pending.payload["params"]

    Lifecycle(store).decide(pending.id, action="approve", reason="", edit=None, by="carol")
    done = run_job_here(store, settings, job_id, parts)  # a fresh drive (e.g. after a restart) picks the decision up
    assert done.status == "succeeded", done.error
    assert [r.role for r in list_experiments(store, job_id)][:2] == ["baseline", "candidate"]
    assert "| carol |" in Path(done.summary["report"]).read_text()


def test_a_cancel_request_stops_the_job_at_the_end_of_the_iteration(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 5})

    def cancel_then_approve(cp: Checkpoint) -> dict[str, Any]:
        Lifecycle(store).request_cancel(cp.job_id)
        return {"action": "approve", "by": "dave"}

    outcome = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search",  # type: ignore[arg-type]
                      gates={"idea": "always"}, on_checkpoint=cancel_then_approve)
    assert outcome.status == "cancelled" and get_job(store, outcome.job_id).status == "cancelled"
    assert outcome.summary["stop_reason"].startswith("cancelled")
    assert sum(1 for r in list_experiments(store, outcome.job_id) if r.role == "candidate") == 1
    assert Path(outcome.summary["report"]).is_file()


def test_a_job_cancelled_while_it_waits_ends_cancelled_with_its_report(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 3})
    parts = Collaborators(runner=sandbox)  # type: ignore[arg-type]
    job_id, _ = create_research_job(store, settings, task, strategy="search", gates={"idea": "always"})
    assert run_job_here(store, settings, job_id, parts).status == "waiting"

    Lifecycle(store).request_cancel(job_id)
    outcome = run_job_here(store, settings, job_id, parts)
    assert outcome.status == "cancelled" and get_job(store, job_id).status == "cancelled"
    (decision,) = list_decisions(store, job_id)
    assert (decision.action, decision.decided_by) == ("reject", "system:cancel")
    assert [r.role for r in list_experiments(store, job_id)] == ["baseline"]
    assert Path(outcome.summary["report"]).is_file()
