"""No duplicate work on the real sandbox with a scripted model: a candidate whose content is already in
the tree (or in a sibling branch of its round) is not run; it takes the original's result.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from services.settings import Settings
from services.store import Store, events_after, list_experiments, list_jobs, open_store
from tests.agents.conftest import make_task, model_parts, run_job
from tests.agents.test_resume import LABLOOP, _env, leftovers  # noqa: F401  (the fixture removes the killed run's containers)
from tests.agents.test_tree import COMBO, _critique, _edit, _idea, _review
from tests.utils.fake_llm import FakeLLM


def _events(store: Store, job_id: str, kind: str) -> list[dict[str, object]]:
    return [e.data for e in events_after(store, job_id, 0, limit=100_000) if e.kind == kind]


def _started(store: Store, job_id: str) -> list[str]:
    return [str(d["id"]) for d in _events(store, job_id, "experiment") if d.get("status") == "running"]


def _fates(report: str) -> dict[str, str]:
    """Node id → fate, from the report's tree table."""
    table = report.split("## Tree of solutions", 1)[1].split("## Metric over rounds", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| r")]
    return {row[0]: row[4] for row in rows}


def test_two_identical_candidates_of_one_round_run_once_and_the_twin_takes_the_result(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "twins", name="twins", code=COMBO, budget={"iterations": 1},
                     search={"parallel": 2, "debug_prob": 0.0})
    llm.add("ideate", _idea("Add a bonus"), _idea("Add the same bonus another way"))
    same = _edit("BONUS = 0.0", "BONUS = 0.25")
    llm.add("implement", same, same)
    llm.add("review", _review("a bonus helps"), _review("unused"))
    llm.add("critique", _critique())
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    job = outcome.job_id
    ran = [r.id.removeprefix(job + "-") for r in list_experiments(store, job) if r.role == "candidate"]
    (original_run,) = ran  # one sandbox run for the two slots
    original = original_run.split("-")[0]
    twin = ({"r1s0", "r1s1"} - {original}).pop()
    assert [s.removeprefix(job + "-") for s in _started(store, job) if "-candidate-" in s] == [original_run]
    (event,) = _events(store, job, "duplicate")
    assert event["node"] == twin and event["of"] == original and event["experiment_id"] == f"{job}-{original_run}"
    assert llm.calls("review") == 1  # the duplicate asks the model nothing either

    summary = outcome.summary
    assert summary["experiments"] == len(list_experiments(store, job))
    (finding,) = summary["findings"]
    assert finding["node"] == original and finding["accepted"]  # the original is verified, not its twin
    report = Path(summary["report"]).read_text()
    assert _fates(report)[twin] == f"duplicate of {original}"
    twin_row = next(line for line in report.splitlines() if line.startswith(f"| {twin} |"))
    assert "| 0.75 |" in twin_row and f"duplicate of {original}" in twin_row  # took the original's value


def test_a_candidate_identical_to_an_earlier_node_is_not_run_and_takes_that_nodes_result(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "again", name="again", code=COMBO, budget={"iterations": 3},
                     search={"debug_prob": 0.0})
    llm.add("ideate", _idea("Add a small bonus"), _idea("Add a larger bonus"), _idea("Go back to the small bonus"))
    llm.add("implement", _edit("BONUS = 0.0", "BONUS = 0.05"), _edit("BONUS = 0.05", "BONUS = 0.09"),
            _edit("BONUS = 0.09", "BONUS = 0.05"))
    llm.add("review", _review("a bonus helps"), _review("a larger bonus helps more"), _review("unused"))
    llm.add("critique", _critique(), _critique())
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    job = outcome.job_id
    ids = {r.id.removeprefix(job + "-") for r in list_experiments(store, job)}
    assert {"r1s0-candidate-0", "r2s0-candidate-0"} <= ids and not any(i.startswith("r3s0") for i in ids)
    (event,) = _events(store, job, "duplicate")
    assert event == {"iteration": 3, "node": "r3s0", "of": "r1s0", "experiment_id": f"{job}-r1s0-candidate-0",
                     "content": event["content"]}
    assert llm.calls("review") == 2 and llm.calls("implement") == 3
    report = Path(outcome.summary["report"]).read_text()
    assert _fates(report) == {"root": "baseline", "r1s0": "verified", "r2s0": "verified", "r3s0": "duplicate of r1s0"}
    row = next(line for line in report.splitlines() if line.startswith("| r3s0 |"))
    assert "| 0.55 |" in row  # r1s0's value on seed 0
    assert outcome.summary["best"]["metrics"]["score"] == pytest.approx(0.59)


def test_an_ablation_identical_to_an_existing_node_reuses_it(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "ablated", name="ablated", code=COMBO, budget={"iterations": 2},
                     search={"parallel": 2, "debug_prob": 0.0})
    bonus = json.loads(_edit("BONUS = 0.0", "BONUS = 0.25"))
    bonus["params"] = {"note": 1}
    note_only = json.dumps({"explanation": "a note only", "params": {"note": 1}})
    llm.add("ideate", _idea("A note"), _idea("A bonus and a note"), _idea("A smaller bonus on the note"))
    # which round-1 slot gets which reply is a race; either way one node is the note alone
    llm.add("implement", note_only, json.dumps(bonus), _edit("BONUS = 0.0", "BONUS = 0.1"))
    llm.add("review", _review("a note changes nothing"), _review("the bonus helps"), _review("a smaller bonus"),
            _review("unused"))
    llm.add("critique", _critique())
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    job = outcome.job_id
    rows = {r.id.removeprefix(job + "-"): r for r in list_experiments(store, job)}
    note = next(n for n in ("r1s0", "r1s1") if rows[f"{n}-candidate-0"].params == {"note": 1}
                and "BONUS" not in rows[f"{n}-candidate-0"].diff)
    incumbent = ({"r1s0", "r1s1"} - {note}).pop()
    assert "r2s0-candidate-0" not in rows  # the ablation ran nothing
    assert "r2s1-candidate-0" in rows  # the other slot improved the original note node, not the duplicate
    (event,) = _events(store, job, "duplicate")
    assert event["node"] == "r2s0" and event["of"] == note
    assert llm.calls("review") == 3 and llm.calls("implement") == 3
    report = Path(outcome.summary["report"]).read_text()
    assert _fates(report)["r2s0"] == f"duplicate of {note}"
    assert f"| r2s0 | {incumbent} | revert experiment.py | 0.5 | -0.25 |" in report  # the ablation is reported


# The change makes seed 0 slow, so the test can kill the job while the original's run is in flight
# and its twin waits for it.
SLOW_BONUS = '''
    import json, os, time
    from pathlib import Path

    BONUS = 0.0

    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    if seed == 0 and BONUS:
        time.sleep(4.0)
    score = 0.5 + BONUS + 0.01 * (seed % 5)
    out = Path(os.environ["LABLOOP_OUTPUT"])
    (out / "metrics.json").write_text(json.dumps({"score": score}))
'''


def test_kill_9_while_the_original_runs_then_resume_keeps_the_same_original_and_runs_it_once_more(
    tmp_path: Path, home: Path, settings: Settings, llm: FakeLLM, leftovers: None  # noqa: F811
) -> None:
    task = make_task(tmp_path / "slowtwins", name="slowtwins", code=SLOW_BONUS, budget={"iterations": 1},
                     search={"parallel": 2, "debug_prob": 0.0})
    llm.add("ideate", _idea("Add a bonus"), _idea("Add the same bonus another way"))
    same = _edit("BONUS = 0.0", "BONUS = 0.25")
    llm.add("implement", same, same)
    llm.add("review", _review("a bonus helps"), _review("unused"))
    llm.add("critique", _critique())
    env = {**_env(home), "LABLOOP_LLM_BASE_URL": llm.base_url, "LABLOOP_LLM_MODEL": "fake-model",
           "LABLOOP_LLM_API_KEY": "test"}
    cmd = [LABLOOP, "run", str(task), "--strategy", "llm", "--auto-approve", "--no-memory", "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    in_flight = job_id = None
    with open_store(settings.db_url) as store:
        deadline = time.monotonic() + 180
        while in_flight is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            jobs = list_jobs(store)
            if jobs:
                job_id = jobs[0].id
                running = [r.id for r in list_experiments(store, job_id)
                           if r.role == "candidate" and r.status == "running"]
                in_flight = running[0] if running else None
        assert in_flight is not None and job_id is not None, f"no run caught: {proc.stderr and proc.stderr.read()!r}"
        time.sleep(1.0)  # both branches are at execute: one runs, its twin waits for it
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        original = in_flight.removeprefix(job_id + "-").split("-")[0]
        claims = list((home / "runs" / job_id / "contents").glob("*.json"))
        owners = {json.loads(p.read_text())["node"] for p in claims}
        assert original in owners and ({"r1s0", "r1s1"} - {original}).isdisjoint(owners)

        resumed = subprocess.run([LABLOOP, "resume", job_id, "--auto-approve", "--no-memory", "--json"],
                                 env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout)
        rows = list_experiments(store, job_id)
        started = _started(store, job_id)
        events = _events(store, job_id, "duplicate")

    twin = ({"r1s0", "r1s1"} - {original}).pop()
    assert summary["status"] == "succeeded"
    assert summary["experiments"] == len(rows) == len({r.id for r in rows})
    assert [r.id for r in rows if r.role == "candidate"] == [in_flight]  # still one run, of the same original
    assert started.count(in_flight) == 2  # killed in flight, it ran again from its start
    assert events and all(e["node"] == twin and e["of"] == original for e in events)
    (finding,) = summary["findings"]
    assert finding["node"] == original
    assert _fates(Path(summary["report"]).read_text())[twin] == f"duplicate of {original}"
