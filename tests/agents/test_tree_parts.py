"""The tree's parts without a sandbox: the selection policy, ablation parts, prompt allowance, failures told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents import search, tree
from agents.briefing import allowance, brief, clip
from agents.context import ResearchContext
from agents.search import penalty, propose_many
from agents.state import ROOT, Idea, Node
from agents.task import parse_task

TASK_TEXT = """
name: t
goal: g
metric: {name: score, direction: maximize}
entrypoint: python3 experiment.py
params: {x: {low: 0.0, high: 1.0}}
search: {parallel: 2, drafts: 1, debug_prob: 1.0, max_debug_depth: 2}
"""
TASK = parse_task(TASK_TEXT)


def node(node_id: str, *, parent: str | None = ROOT, round_: int = 1, value: float | None = 0.5,
         operator: str = "improve", files: dict[str, str] | None = None, params: dict[str, Any] | None = None,
         lesson: str = "", depth: int = 0) -> Node:
    return Node(id=node_id, parent=parent, operator=operator, round=round_, debug_depth=depth,  # type: ignore[typeddict-item]
                idea=Idea(title=f"idea {node_id}", hypothesis="", plan="", params={}, source="llm"),
                files=files or {}, params=params or {}, diff="", explanation="",
                status="succeeded" if value is not None else "failed", value=value, metrics={},
                error=None if value is not None else "Traceback: boom", output_tail="", experiment_id=None,
                fate="proposed", summary="", lesson=lesson, verdict=None, critique=None)


ROOT_NODE = node(ROOT, parent=None, round_=0, value=0.5, operator="root")


def test_selection_drafts_first_then_repairs_failures_and_climbs_from_distinct_best_nodes() -> None:
    first = tree.select_expansions(TASK, job_id="j", round_=1, nodes=[ROOT_NODE], incumbent=ROOT, strategy="llm")
    assert [(e["operator"], e["parent"]) for e in first] == [("draft", ROOT), ("improve", ROOT)]
    assert [e["node"] for e in first] == ["r1s0", "r1s1"]

    nodes = [ROOT_NODE, node("r1s0", value=None, files={"a.py": "x"}, operator="draft"), node("r1s1", value=0.7)]
    second = tree.select_expansions(TASK, job_id="j", round_=2, nodes=nodes, incumbent=ROOT, strategy="llm")
    assert [(e["operator"], e["parent"]) for e in second] == [("debug", "r1s0"), ("improve", "r1s1")]
    assert second == tree.select_expansions(TASK, job_id="j", round_=2, nodes=nodes, incumbent=ROOT,
                                            strategy="llm")  # deterministic for a job

    deep = [ROOT_NODE, node("r1s1", value=0.7, operator="draft"), node("r3s0", value=None, files={"a.py": "x"}, depth=2)]
    third = tree.select_expansions(TASK, job_id="j", round_=4, nodes=deep, incumbent=ROOT, strategy="llm")
    assert [(e["operator"], e["parent"]) for e in third] == [("improve", "r1s1"), ("improve", ROOT)]  # depth cap

    search = tree.select_expansions(TASK, job_id="j", round_=2, nodes=nodes, incumbent=ROOT, strategy="search")
    assert [e["operator"] for e in search] == ["improve", "improve"]  # search neither drafts nor repairs


def test_ties_go_to_the_newer_node_and_ablation_reverts_one_part_of_the_incumbents_change() -> None:
    nodes = [ROOT_NODE, node("r1s0", value=0.5)]
    assert tree.ranked(TASK, nodes, ROOT)[0]["id"] == "r1s0"  # equal to the root: the newer carries more work

    parent = node("r1s0", files={"a.py": "A1"}, params={"x": 0.1})
    incumbent = node("r2s0", parent="r1s0", round_=2, files={"a.py": "A2", "b.py": "B"}, params={"x": 0.2})
    parts = dict(tree.ablate_parts(parent, incumbent))
    assert parts["revert a.py"] == {"files": {"a.py": "A1", "b.py": "B"}, "params": {"x": 0.2}}
    assert parts["revert b.py"] == {"files": {"a.py": "A2"}, "params": {"x": 0.2}}
    assert parts["revert param x"] == {"files": {"a.py": "A2", "b.py": "B"}, "params": {"x": 0.1}}
    chosen = tree.select_expansions(TASK, job_id="j", round_=3, nodes=[ROOT_NODE, parent, incumbent],
                                    incumbent="r2s0", strategy="llm")
    assert (chosen[0]["operator"], chosen[0]["parent"]) == ("ablate", "r2s0")


def test_prompts_stay_within_the_allowance_and_say_what_was_cut(tmp_path: Path) -> None:
    long = "\n".join(f"line {i}" for i in range(20_000))
    cut = clip(long, 2000, what="helper.py")
    assert len(cut) < 2200 and "cut here to stay within the prompt's" in cut and "of helper.py" in cut
    assert cut.startswith("line 0\n") and cut.endswith("\nline 19999")  # whole lines only
    ctx = ResearchContext(job_id="j", task=TASK, task_dir=tmp_path, runner=None, journal=None,  # type: ignore[arg-type]
                          runs_dir=tmp_path, strategy="llm")
    edited = "\n".join(f"line {i}" for i in range(4_500)) + "\nend"  # over the allowance, within the context
    parent = node("r1s0", files={"experiment.py": edited}, lesson="keep the scaler")
    briefing = brief(ctx, step="implement", node=parent, nodes=[ROOT_NODE, parent], incumbent=ROOT, rejections=[],
                     task_files={"experiment.py": "short", "helper.py": long})
    allowed = allowance(ctx.limits, "implement") * 4
    assert "helper.py (code, 208889 bytes; not shown: the prompt's allowance is spent" in briefing.code
    assert len(edited) > allowed * 0.55 and edited in briefing.code  # the file the step edits is whole
    assert len(briefing.code) - len(edited) < allowed
    assert "keep the scaler" in briefing.lessons and "r1s0" in briefing.tree


def test_failed_points_are_told_as_worse_than_any_measured_one_and_parallel_slots_differ() -> None:
    assert penalty(TASK) < -1e300
    own: list[tuple[dict[str, object], float | None]] = [({"x": v / 10}, v / 10 + 0.1) for v in range(1, 5)]
    told = own + [({"x": v / 100}, None) for v in range(60, 100, 4)]  # everything above 0.6 crashed
    ideas = propose_many(TASK, job_id="j", iteration=5, told=told, count=2)
    assert ideas[0]["params"] != ideas[1]["params"]
    assert "failed point(s) count as worse" in ideas[0]["hypothesis"]
    draws = [propose_many(TASK, job_id=f"j{i}", iteration=5, told=told)[0]["params"]["x"] for i in range(10)]
    assert sum(x > 0.6 for x in draws) <= 3  # the sampler mostly stays out of the crashing region


def test_a_kept_study_proposes_what_a_study_rebuilt_from_the_same_trials_proposes() -> None:
    # A job's study is kept between rounds and told only the new points; a resumed job (or
    # another worker) rebuilds it from the tree. Both must propose the same points, with
    # failures among the points and two parallel slots a round.
    told: list[tuple[dict[str, object], float | None]] = []
    for round_ in range(1, 31):
        before = search._STUDIES._kept.get("kept")
        kept = propose_many(TASK, job_id="kept", iteration=round_, told=told, count=2)
        if before is not None:  # extended, not rebuilt
            assert search._STUDIES._kept["kept"][0] is before[0]
        search._STUDIES._kept.pop("kept")
        rebuilt = propose_many(TASK, job_id="kept", iteration=round_, told=told, count=2)
        assert [i["params"] for i in kept] == [i["params"] for i in rebuilt], f"round {round_}"
        for idea in kept:
            x = float(idea["params"]["x"])
            told.append((idea["params"], None if x > 0.6 else -((x - 0.4) ** 2)))
    assert sum(v is None for _, v in told) >= 3 and sum(v is not None for _, v in told) >= 3


def test_a_kept_study_is_not_used_for_other_points_or_another_space() -> None:
    told: list[tuple[dict[str, object], float | None]] = [({"x": 0.1}, 1.0), ({"x": 0.2}, 2.0)]
    propose_many(TASK, job_id="other", iteration=1, told=told)
    first = search._STUDIES._kept["other"][0]
    propose_many(TASK, job_id="other", iteration=2, told=[({"x": 0.2}, 2.0)])  # not a continuation
    second = search._STUDIES._kept["other"][0]
    assert second is not first
    narrow = parse_task(TASK_TEXT.replace("{x: {low: 0.0, high: 1.0}}", "{x: {low: 0.0, high: 0.25}}"))
    ideas = propose_many(narrow, job_id="other", iteration=3, told=[({"x": 0.2}, 2.0)], count=2)  # an edited task.yaml
    assert search._STUDIES._kept["other"][0] is not second
    assert all(float(i["params"]["x"]) <= 0.25 for i in ideas)
