"""What a reviewer decides on: the code checkpoint of an llm job carries the idea, the model's
explanation, the diff from the parent and from the root, the parent's and incumbent's results and
a branch label that tells parallel checkpoints apart; a checkpoint stored by older code still decides.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agents.checkpoints import CodePayload, Decided, read_payload
from agents.errors import InvalidInput
from services.collaborators import Collaborators
from services.lifecycle import Lifecycle
from services.local_run import run_job_here
from services.outcomes import Checkpoint, Paused
from services.settings import Settings
from services.store import Store, get_job, list_checkpoints, list_decisions, list_experiments
from services.store.models import CheckpointRow
from tests.agents.conftest import (
    QUAD_SPACE,
    QUADRATIC,
    QUALITY,
    create_research_job,
    make_task,
    model_parts,
    run_job,
)
from tests.utils.fake_llm import FakeLLM

IDEAS = {
    "Raise the quality a little": ("a small bonus lifts the score", "return 0.6 from quality()"),
    "Raise the quality more": ("a larger bonus lifts it further", "return 0.7 from quality()"),
    "Push the quality to 0.8": ("the score follows quality() one to one", "rewrite quality() to return 0.8"),
    "Push the quality to 0.9": ("more of the same", "rewrite quality() to return 0.9"),
}
FIRST_ROUND = {"return 0.6 (a small bonus)": "0.6", "return 0.7 (a larger bonus)": "0.7"}
SECOND_ROUND = {"rewrote quality() for 0.8": "0.8", "rewrote quality() for 0.9": "0.9"}


def _idea(title: str) -> str:
    hypothesis, plan = IDEAS[title]
    return json.dumps({"title": title, "hypothesis": hypothesis, "plan": plan, "params": {}})


def _edit(explanation: str, value: str) -> str:
    return json.dumps({"explanation": explanation, "edits": [
        {"path": "experiment.py", "search": "    return 0.5", "replace": f"    return {value}"}]})


def _whole(explanation: str, value: str) -> str:  # applies to any parent: the whole file is given
    code = textwrap.dedent(QUALITY).lstrip().replace("    return 0.5", f"    return {value}")
    return json.dumps({"explanation": explanation, "files": [{"path": "experiment.py", "content": code}]})


def test_parallel_code_checkpoints_carry_idea_explanation_both_diffs_metrics_and_distinct_branch_labels(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 2},
                     search={"parallel": 2})
    llm.add("ideate", *(_idea(title) for title in IDEAS))
    llm.add("implement", *(_edit(e, v) for e, v in FIRST_ROUND.items()), *(_whole(e, v) for e, v in SECOND_ROUND.items()))
    review = json.dumps({"summary": "the bonus moved the score", "lesson": "quality() is the score"})
    llm.add("review", *[review] * 4)
    llm.add("critique", *[json.dumps({"soundness": "direct", "confounds": [], "ablation": "undo", "flaw": ""})] * 2)
    asked: list[Checkpoint] = []
    pending_when_asked: list[set[str]] = []

    def approve(cp: Checkpoint) -> Decided:
        asked.append(cp)
        pending_when_asked.append({r.id for r in list_checkpoints(store, job_id=cp.job_id, status="pending")})
        return Decided(action="approve", by="alice")

    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm",
                      gates={"idea": "never", "code": "always", "finding": "never"}, on_checkpoint=approve)

    assert outcome.status == "succeeded", outcome.error
    runs = {r.id.removeprefix(outcome.job_id + "-"): r for r in list_experiments(store, outcome.job_id)}
    value_of = {"root": runs["root-baseline-0"].result["metrics"]["score"]} | {  # type: ignore[index]
        name.removesuffix("-candidate-0"): r.result["metrics"]["score"]  # type: ignore[index]
        for name, r in runs.items() if name.endswith("-candidate-0") and r.result}
    payloads = [cp.typed_payload for cp in asked]
    assert all(isinstance(p, CodePayload) for p in payloads) and len(payloads) == 4
    by_round: dict[int, list[CodePayload]] = {}
    for p in payloads:
        assert isinstance(p, CodePayload)
        by_round.setdefault(p.iteration, []).append(p)
        slot = int(p.node.split("s")[1])
        assert p.branch == f"round {p.iteration}, slot {slot} ({p.node}): {p.operator} of {p.parent}"
        assert (p.hypothesis, p.plan) == IDEAS[p.title]  # the idea, whole
        assert p.explanation in FIRST_ROUND | SECOND_ROUND  # the model's account of its change
        assert p.parent_metrics is not None and p.parent_metrics.node == p.parent
        assert p.parent_metrics.value == pytest.approx(value_of[p.parent])
        assert p.incumbent_metrics is not None and p.incumbent_metrics.node in value_of
        assert p.incumbent_metrics.value == pytest.approx(value_of[p.incumbent_metrics.node])
        made = (FIRST_ROUND | SECOND_ROUND)[p.explanation]
        assert f"+    return {made}" in p.diff_from_parent and "-    return 0.5" in p.diff  # from the root
    assert sorted(by_round) == [1, 2]
    for round_, shown in by_round.items():  # two branches of a round, told apart by their labels
        assert len(shown) == 2 and len({p.branch for p in shown}) == 2, [p.branch for p in shown]
        assert {p.node for p in shown} == {f"r{round_}s0", f"r{round_}s1"}
    for p in by_round[1]:
        assert p.parent == "root" and p.incumbent_metrics is not None and p.incumbent_metrics.node == "root"
        assert p.diff_from_parent == p.diff  # from the root, both are the same change
    for p in by_round[2]:
        if p.parent != "root":  # improving a round-1 node: its diff starts from that node's code
            assert f"-    return {value_of[p.parent]:.1f}" in p.diff_from_parent, p.diff_from_parent
            assert p.diff_from_parent != p.diff
    for round_ in by_round:  # the job waited at both gates of a round at once
        ids = {cp.id for cp in asked if cp.typed_payload.iteration == round_}
        assert len(ids) == 2 and any(ids <= pending for pending in pending_when_asked)
    stored = [read_payload(r.kind, r.payload) for r in list_checkpoints(store, job_id=outcome.job_id)]
    assert sorted(p.branch for p in stored) == sorted(p.branch for p in payloads)  # the row keeps the same payload


OLD_CODE_PAYLOAD = {"iteration": 1, "node": "r1s0", "parent": "root", "title": "an idea from before the contract",
                    "params": {"x": 1.5, "y": -0.5}, "files": {}, "diff": "+++ b/params.json\n"}


def test_a_checkpoint_stored_by_older_code_still_reads_and_decides(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 1})
    parts = Collaborators(runner=sandbox)  # type: ignore[arg-type]
    job_id, _ = create_research_job(store, settings, task, strategy="search",
                                    gates={"idea": "never", "code": "always", "finding": "never"})
    waiting = run_job_here(store, settings, job_id, parts)
    assert isinstance(waiting, Paused) and get_job(store, job_id).status == "waiting"
    (pending,) = list_checkpoints(store, job_id=job_id, status="pending")
    with store.session() as session:  # as the row of a checkpoint asked before the payloads grew
        row = session.get(CheckpointRow, pending.id)
        assert row is not None
        row.payload = dict(OLD_CODE_PAYLOAD)
    (old,) = list_checkpoints(store, job_id=job_id, status="pending")
    shown = read_payload(old.kind, old.payload)
    assert isinstance(shown, CodePayload) and shown.title == OLD_CODE_PAYLOAD["title"]
    assert (shown.branch, shown.explanation, shown.parent_metrics, shown.diff_from_parent) == ("", "", None, "")

    with pytest.raises(InvalidInput, match="action must be one of approve, reject, edit"):
        Lifecycle(store).decide(old.id, action="shrug", by="carol")
    with pytest.raises(InvalidInput, match="summary"):  # an edit of another gate's shape is refused by name
        Lifecycle(store).decide(old.id, action="edit", edit={"summary": "not a code edit"}, by="carol")
    Lifecycle(store).decide(old.id, action="edit", edit={"params": {"x": 1.5, "y": -0.5}}, reason="the optimum",
                            by="carol")
    done = run_job_here(store, settings, job_id, parts)
    assert done.status == "succeeded", done.error
    (decision,) = list_decisions(store, job_id)
    assert (decision.action, decision.decided_by) == ("edit", "carol")
    ran = next(r for r in list_experiments(store, job_id) if r.role == "candidate")
    assert ran.params == {"x": 1.5, "y": -0.5}  # the edit decided on the old-shape checkpoint is what ran
