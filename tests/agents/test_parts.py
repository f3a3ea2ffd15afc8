"""The graph's parts on their own: edits, tracebacks, auto-gate flags, the search sampler, and the LLM client's retries and budget against the local test server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agents.context import ResearchContext
from agents.edits import CodeChange, apply_change, traceback_sources
from agents.errors import BudgetExhausted, LLMUnavailable
from agents.flags import code_flags, finding_flags, idea_flags
from agents.llm import OpenAIChatModel, TokenMeter, ask_json
from agents.llm_steps import Idea
from agents.nodes.decide import budget_stop
from agents.search import propose
from agents.state import ResearchState
from agents.task import parse_task
from tests.utils.fake_llm import FakeLLM

ORIGINAL = {"experiment.py": "import json\n\ndef quality():\n    return 0.5\n"}
TASK = parse_task("""
name: quad
goal: maximise the score
metric: {name: score, direction: maximize}
entrypoint: python3 experiment.py
params: {x: {low: -3.0, high: 3.0}, k: {choices: [a, b]}}
""")


def test_search_replace_and_whole_file_edits_apply_and_a_missing_search_text_is_explained() -> None:
    change = CodeChange(edits=[{"path": "./experiment.py", "search": "return 0.5", "replace": "return 0.7"}],
                        files=[{"path": "notes/plan.txt", "content": "try 0.7\n"}])
    changed = apply_change(ORIGINAL, {}, change)
    assert changed == {"experiment.py": "import json\n\ndef quality():\n    return 0.7\n", "notes/plan.txt": "try 0.7\n"}
    with pytest.raises(ValueError, match="search text was not found verbatim"):
        apply_change(ORIGINAL, changed, CodeChange(edits=[{"path": "experiment.py", "search": "return 0.5", "replace": "x"}]))
    with pytest.raises(ValueError, match="relative to the workspace"):
        apply_change(ORIGINAL, {}, CodeChange(files=[{"path": "../escape.py", "content": ""}]))


def test_traceback_sources_show_the_lines_each_frame_points_at() -> None:
    traceback = ('Traceback (most recent call last):\n  File "/workspace/experiment.py", line 4, in quality\n'
                 "NameError: name 'bonus' is not defined\n")
    shown = traceback_sources(traceback, ORIGINAL)
    assert shown.startswith("experiment.py, line 4:") and ">>    4 |     return 0.5" in shown


def test_auto_gate_flags_network_process_and_outside_writes_only() -> None:
    risky = "import subprocess\nimport os\nfrom urllib.request import urlopen\nos.system('ls')\nopen('/etc/x', 'w')\n"
    flags = code_flags({"experiment.py": risky, "data.csv": "import socket"})
    assert [f.split(": ", 1)[1] for f in flags] == [
        "imports subprocess", "imports from urllib.request", "calls os.system", "touches '/etc/x' outside the workspace"]
    assert code_flags({"experiment.py": "import json, math\nopen('out.txt', 'w')\n"}) == []
    rejected = [{"kind": "idea", "idea": {"title": "Fix the seed", "params": {"x": 1}}, "reason": "no"}]
    assert idea_flags({"title": "Other", "params": {"x": 1}}, rejected)
    assert not idea_flags({"title": "Raise the learning rate", "plan": "", "params": {"x": 2}}, rejected)
    assert finding_flags(0.5, 1.0) and not finding_flags(0.01, 1.0)


def test_search_proposals_stay_in_the_space_are_reproducible_and_say_why() -> None:
    own = [({"x": float(i) / 2, "k": "a"}, -abs(i - 3)) for i in range(6)]
    idea = propose(TASK, job_id="job-1", iteration=7, told=own, prior=[({"x": 9.0, "k": "a"}, 5.0)])
    assert -3.0 <= idea["params"]["x"] <= 3.0 and idea["params"]["k"] in ("a", "b")
    assert idea == propose(TASK, job_id="job-1", iteration=7, told=own, prior=[({"x": 9.0, "k": "a"}, 5.0)])
    assert "TPE over 6 measured points (0 recalled from memory)" in idea["hypothesis"]  # x=9 is outside: skipped


def test_the_client_retries_transient_failures_with_backoff_then_gives_up() -> None:
    reply = json.dumps({"title": "t"})
    with FakeLLM({"ideate": [503, 500, reply, 503, 502, 503]}) as llm:
        model = OpenAIChatModel(model="fake", base_url=llm.base_url, max_retries=2, backoff_s=0.05)
        started = time.monotonic()
        answer = model.complete([{"role": "system", "content": "Step: ideate."}])
        assert answer.text == reply and time.monotonic() - started >= 0.05 + 0.1
        with pytest.raises(LLMUnavailable, match="failed 3 times"):
            model.complete([{"role": "system", "content": "Step: ideate."}])
        assert llm.calls() == 6 and not llm.script["ideate"]


def test_the_token_meter_refuses_a_call_before_it_is_made() -> None:
    with FakeLLM({"ideate": [json.dumps({"title": "t"})]}) as llm:
        model = OpenAIChatModel(model="fake", base_url=llm.base_url)
        messages = [{"role": "system", "content": "Step: ideate. " + "x" * 2000}]
        with pytest.raises(BudgetExhausted, match="next call needs about"):
            ask_json(model, TokenMeter(budget=600), messages, Idea)
        assert llm.calls() == 0
        meter = TokenMeter(budget=5000, price_per_1k_tokens=0.002)
        assert ask_json(model, meter, messages, Idea).title == "t"
        assert meter.used > 500 and meter.cost_usd == pytest.approx(meter.used / 1000 * 0.002)


def test_decide_stops_on_each_budget_and_on_cancel(tmp_path: Path) -> None:
    budget = TASK.budget.model_copy(update={"iterations": 5, "experiments": 4, "wall_clock_s": 60.0, "llm_tokens": 100})
    ctx = ResearchContext(job_id="job-1", task=TASK.model_copy(update={"budget": budget}), task_dir=tmp_path,
                          runner=None, journal=None, runs_dir=tmp_path, strategy="llm")  # type: ignore[arg-type]
    state: ResearchState = {"iteration": 1, "experiments": [{}] * 2, "started_at": time.time(), "tokens": 10}
    assert budget_stop(ctx, state) is None
    assert "iteration budget" in str(budget_stop(ctx, {**state, "iteration": 5}))
    assert "experiment budget reached (4 of 4" in str(budget_stop(ctx, {**state, "experiments": [{}] * 4}))
    assert "wall-clock budget" in str(budget_stop(ctx, {**state, "started_at": time.time() - 61}))
    assert "LLM token budget" in str(budget_stop(ctx, {**state, "tokens": 100}))
    ctx.should_stop = lambda: True
    assert str(budget_stop(ctx, state)).startswith("cancelled")


def test_a_server_without_json_mode_is_asked_again_without_it() -> None:
    with FakeLLM({"ideate": [json.dumps({"title": "t"}), json.dumps({"title": "u"})]}, json_mode=False) as llm:
        model = OpenAIChatModel(model="fake", base_url=llm.base_url)
        meter = TokenMeter(budget=10_000)
        messages = [{"role": "system", "content": "Step: ideate."}]
        assert ask_json(model, meter, messages, Idea).title == "t"
        assert ask_json(model, meter, messages, Idea).title == "u"
    assert ["response_format" in r for r in llm.requests] == [True, False, False]  # learnt once, then not tried
