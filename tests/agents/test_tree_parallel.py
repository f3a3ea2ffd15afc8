"""Parallel rounds on the real sandbox: branches overlap; search leaves a crashing region."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.collaborators import Collaborators
from services.settings import Settings
from services.store import Store, events_after, list_experiments
from tests.agents.conftest import QUAD_SPACE, make_task, run_job

REPO = Path(__file__).resolve().parents[2]

# Each run records when it started and ended (the host's clock: containers share it), so the
# test can tell whether two runs were in the sandbox at the same time.
TIMED = '''
    import json, os, time
    from pathlib import Path
    started = time.time()
    p = {"x": -3.0, "y": 3.0}
    if Path("params.json").exists():
        p.update(json.loads(Path("params.json").read_text()))
    time.sleep(1.5)
    score = -((p["x"] - 1.5) ** 2 + (p["y"] + 0.5) ** 2)
    out = Path(os.environ["LABLOOP_OUTPUT"])
    (out / "metrics.json").write_text(json.dumps({"score": score, "started": started, "ended": time.time()}))
'''


def test_parallel_two_runs_the_branches_of_a_round_in_the_sandbox_at_the_same_time(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "timed", name="timed", code=TIMED, params=QUAD_SPACE, budget={"iterations": 1},
                     search={"parallel": 2})
    outcome = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search")  # type: ignore[arg-type]

    assert outcome.status == "succeeded", outcome.error
    rows = {r.id.removeprefix(outcome.job_id + "-"): r for r in list_experiments(store, outcome.job_id)}
    first, second = (rows[f"r1s{slot}-candidate-0"].result or {} for slot in (0, 1))
    a, b = first["metrics"], second["metrics"]
    assert a["started"] < b["ended"] and b["started"] < a["ended"]  # the two intervals overlap
    assert rows["r1s0-candidate-0"].params != rows["r1s1-candidate-0"].params  # distinct points (constant liar)

    # Fates say what happened: only the node tested against the incumbent is verified or not_verified;
    # the other one, if better on seed 0, says just that (no "improved" on an untested node).
    events = events_after(store, outcome.job_id, limit=10_000)
    tested = {e.data["node"] for e in events if e.kind == "verify"}
    nodes = {e.data["node"]: e.data for e in events if e.kind == "tree" and e.data.get("node") in ("r1s0", "r1s1")}
    baseline = outcome.summary["baseline"]["score"]
    assert len(tested) == 1 and tested <= set(nodes)
    for name, node in nodes.items():
        if name in tested:
            assert node["fate"] in ("verified", "not_verified"), node
        else:
            assert node["fate"] == ("better_on_seed0" if node["value"] > baseline else "no_gain"), node


def test_search_leaves_a_crashing_region_and_beats_the_baseline_within_ten_rounds(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    task = shutil.copytree(REPO / "tasks" / "crashing", tmp_path / "crashing")
    text = (task / "task.yaml").read_text().replace("search: {parallel: 2}", "search: {parallel: 1}")
    (task / "task.yaml").write_text(text.replace("replicates: 3", "replicates: 2"))
    outcome = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search")  # type: ignore[arg-type]

    assert outcome.status == "succeeded", outcome.error
    summary = outcome.summary
    assert "iteration budget reached (10 iterations)" in summary["stop_reason"]
    assert summary["best"]["metrics"]["val_loss"] < summary["baseline"]["val_loss"]
    assert any(f["accepted"] for f in summary["findings"])
    rows = list_experiments(store, outcome.job_id)
    candidates = [r for r in rows if r.role == "candidate"]
    assert len(candidates) == 10
    crashed = [r for r in candidates if r.status == "failed"]
    assert all("diverged" in ((r.result or {}).get("stderr_tail") or "") for r in crashed)
    assert len(crashed) <= 5  # told of each failure, the sampler does not keep returning to the region
