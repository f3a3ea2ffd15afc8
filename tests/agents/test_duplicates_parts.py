"""No duplicate work, without a sandbox: what counts as the same content, and selection around duplicates."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agents import tree
from agents.context import ResearchContext
from agents.duplicates import claim, content_hash, labelled
from agents.experiments import RESULT_FILE
from agents.state import ROOT, BranchState, Change, Expansion, Node, Run
from sandbox.result import ExperimentResult
from tests.agents.test_tree_parts import ROOT_NODE, TASK, node

CODE = "SCALE = 1.0\n"


def _task(tmp_path: Path, *, params_file: str | None = None) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "experiment.py").write_text(CODE)
    if params_file is not None:
        (folder / "params.json").write_text(params_file)
    return folder


def test_content_is_what_the_workspace_would_run_relative_to_the_task_folder(tmp_path: Path) -> None:
    task = _task(tmp_path)
    unchanged = content_hash(task, {}, {})
    assert content_hash(task, {"experiment.py": CODE}, {}) == unchanged  # "changed" to its own text: no change
    assert content_hash(task, {"./experiment.py": "SCALE = 2.0\n"}, {}) == content_hash(
        task, {"experiment.py": "SCALE = 2.0\n"}, {})  # the same file by another spelling
    assert content_hash(task, {"experiment.py": "SCALE = 2.0\n"}, {}) != unchanged
    assert content_hash(task, {}, {"a": 1, "b": 2}) == content_hash(task, {}, {"b": 2, "a": 1})  # key order
    assert content_hash(task, {}, {"a": 1}) != content_hash(task, {}, {"a": 1.0})  # params.json differs: 1 vs 1.0
    assert content_hash(task, {}, {"a": 1}) != unchanged
    # params are written over a params.json file, as the workspace gets them
    assert content_hash(task, {"params.json": "{}"}, {"a": 1}) == content_hash(task, {}, {"a": 1})
    assert content_hash(task, {"params.json": json.dumps({"a": 1})}, {}) == content_hash(task, {}, {"a": 1})


def test_a_task_params_file_left_as_it_is_is_no_change(tmp_path: Path) -> None:
    task = _task(tmp_path, params_file=json.dumps({"a": 1}))
    assert content_hash(task, {}, {"a": 1}) == content_hash(task, {}, {})  # the same bytes the task folder has
    assert content_hash(task, {}, {"a": 2}) != content_hash(task, {}, {})


def test_a_duplicate_is_labelled_and_never_chosen_as_a_parent_the_original_is() -> None:
    original = node("r1s0", value=0.9, files={"experiment.py": "SCALE = 2.0\n"})
    run = Run(experiment_id="j-r1s0-candidate-0", iteration=1, node="r1s0", role="candidate", seed=0, params={},
              files=["experiment.py"], idea_title="", status="succeeded", value=0.9, metrics={"score": 0.9},
              duration_s=0.0, error=None, artifacts=[], duplicate_of="r1s0")
    twin = labelled(node("r2s0", round_=2, value=0.9, files={"experiment.py": "SCALE = 2.0\n"}), run)
    assert twin["duplicate_of"] == "r1s0" and twin["fate"] == "duplicate of r1s0"
    assert "duplicate of r1s0" in twin["summary"]
    assert labelled(original, {**run, "duplicate_of": ""}) is original  # type: ignore[typeddict-item]

    nodes = [ROOT_NODE, original, twin]
    # ranked alone puts the newer node of equal value first; selection skips the duplicate
    assert tree.ranked(TASK, nodes, ROOT)[0]["id"] == "r2s0"
    task = TASK.model_copy(update={"search": TASK.search.model_copy(update={"debug_prob": 0.0, "drafts": 0})})
    chosen = tree.select_expansions(task, job_id="j", round_=3, nodes=nodes, incumbent=ROOT, strategy="llm")
    assert [(e["operator"], e["parent"]) for e in chosen] == [("improve", "r1s0"), ("improve", ROOT)]


def test_a_failed_duplicate_is_not_repaired_its_original_is() -> None:
    failed = node("r1s0", value=None, files={"experiment.py": "boom\n"})
    twin = Node(**{**node("r2s0", round_=2, value=None, files={"experiment.py": "boom\n"}),
                   "duplicate_of": "r1s0", "fate": "duplicate of r1s0"})
    task = TASK.model_copy(update={"search": TASK.search.model_copy(update={"drafts": 0, "parallel": 1})})
    (chosen,) = tree.select_expansions(task, job_id="j", round_=3, nodes=[ROOT_NODE, failed, twin],
                                       incumbent=ROOT, strategy="llm")
    assert (chosen["operator"], chosen["parent"]) == ("debug", "r1s0")


def test_of_two_branches_racing_for_one_content_exactly_one_owns_it(tmp_path: Path) -> None:
    from agents.duplicates import Claim, _take

    class Ctx:
        job_dir = tmp_path / "job"

    owners: list[str] = []
    barrier = threading.Barrier(8)

    def race(i: int) -> None:
        barrier.wait()
        mine = Claim(content="c" * 64, node=f"r1s{i}", experiment_id=f"j-r1s{i}-candidate-0", round=1,
                     role="candidate")
        owner = _take(Ctx(), mine)  # type: ignore[arg-type]
        assert owner is not None
        owners.append(owner.node)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(owners) == 8 and len(set(owners)) == 1  # every branch sees the same single owner
    assert sorted(p.name for p in (tmp_path / "job" / "contents").iterdir()) == ["c" * 64 + ".json"]


class _Events:
    """Collects the events a claim emits (the journal's emit, nothing else is called here)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def emit(self, job_id: str, kind: str, data: dict[str, object]) -> None:
        self.events.append((kind, dict(data)))


def _branch(node_id: str, files: dict[str, str]) -> BranchState:
    return BranchState(expansion=Expansion(node=node_id, round=1, slot=int(node_id[-1]), operator="improve",
                                           parent=ROOT, proposal=None),
                       candidate=Change(params={}, files=files, diff="", explanation=""), tree=[])


def _ctx(tmp_path: Path) -> tuple[ResearchContext, _Events]:
    events = _Events()
    ctx = ResearchContext(job_id="j", task=TASK, task_dir=_task(tmp_path), runner=None,  # type: ignore[arg-type]
                          journal=events, runs_dir=tmp_path / "runs")  # type: ignore[arg-type]
    return ctx, events


def _owner_then_twin(ctx: ResearchContext, owner_body: Callable[[], None]) -> tuple[bool, Run | None]:
    """The owner claims and runs ``owner_body``; a twin with the same content comes while it runs."""
    inside, go_on, taken = threading.Event(), threading.Event(), {}

    def owner() -> None:
        try:
            with claim(ctx, _branch("r1s0", {"experiment.py": "SCALE = 2.0\n"}), role="candidate") as original:
                assert original is None
                inside.set()
                go_on.wait(10)
                owner_body()
        except RuntimeError:
            pass

    def twin() -> None:
        with claim(ctx, _branch("r1s1", {"./experiment.py": "SCALE = 2.0\n"}), role="candidate") as original:
            taken["run"] = original

    first = threading.Thread(target=owner)
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=twin)
    second.start()
    time.sleep(0.6)
    waited = second.is_alive()  # the twin waits for the owner's result
    go_on.set()
    first.join(10)
    second.join(10)
    assert not second.is_alive()
    return waited, taken["run"]


def test_a_twin_waits_for_the_owners_run_and_takes_its_result(tmp_path: Path) -> None:
    ctx, events = _ctx(tmp_path)

    def finish() -> None:  # what run_experiment leaves when the run ends
        out = ctx.job_dir / "j-r1s0-candidate-0"
        out.mkdir(parents=True)
        (out / RESULT_FILE).write_text(ExperimentResult(status="succeeded", metrics={"score": 0.7},
                                                        stdout_tail="done").model_dump_json())

    waited, run = _owner_then_twin(ctx, finish)
    assert waited and run is not None
    assert (run["duplicate_of"], run["experiment_id"], run["value"], run["stdout_tail"]) == (
        "r1s0", "j-r1s0-candidate-0", 0.7, "done")
    assert [k for k, _ in events.events] == ["duplicate"] and events.events[0][1]["node"] == "r1s1"


def test_when_the_owners_run_raises_the_waiting_twin_runs_the_content_itself(tmp_path: Path) -> None:
    ctx, events = _ctx(tmp_path)

    def crash() -> None:
        raise RuntimeError("the sandbox failed")

    waited, run = _owner_then_twin(ctx, crash)
    assert waited and run is None  # given up by the owner, the claim went to the twin: it runs
    assert events.events == []
