"""kill -9 in the middle of a parallel round: the resume re-runs only the unfinished branch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from services.settings import Settings
from services.store import events_after, list_experiments, list_jobs, open_store
from tests.agents.conftest import QUAD_SPACE, make_task
from tests.agents.test_resume import LABLOOP, _env, leftovers  # noqa: F401  (the fixture removes the killed run's containers)

# A run takes longer the larger its x (0.5 s to 6.5 s), so the two branches of a round finish
# at different times and the test can catch a round with one branch done and one in flight.
STAGGERED = '''
    import json, os, time
    from pathlib import Path
    p = {"x": -3.0, "y": 3.0}
    if Path("params.json").exists():
        p.update(json.loads(Path("params.json").read_text()))
    if int(os.environ.get("LABLOOP_SEED", "0")) == 0:
        time.sleep(0.5 + (p["x"] + 3.0))
    score = -((p["x"] - 1.5) ** 2 + (p["y"] + 0.5) ** 2)
    out = Path(os.environ["LABLOOP_OUTPUT"])
    (out / "metrics.json").write_text(json.dumps({"score": score}))
'''


def _started(store: object, job_id: str) -> Counter[str]:
    events = events_after(store, job_id, 0, limit=100_000)  # type: ignore[arg-type]
    return Counter(e.data["id"] for e in events if e.kind == "experiment" and e.data.get("status") == "running")


def _half_done_round(rows: list) -> str | None:  # type: ignore[type-arg]
    """The experiment in flight in a round whose other branch has finished, if there is one."""
    for round_ in (1, 2, 3):
        mine = [r for r in rows if r.id.split("-")[-3] in (f"r{round_}s0", f"r{round_}s1") and r.role == "candidate"]
        if any(r.status == "succeeded" for r in mine) and any(r.status == "running" for r in mine):
            return next(r.id for r in mine if r.status == "running")
    return None


def test_kill_9_mid_round_then_resume_gives_the_same_tree_and_no_duplicate_experiments(
    tmp_path: Path, home: Path, settings: Settings, leftovers: None  # noqa: F811
) -> None:
    task = make_task(tmp_path / "staggered", name="staggered", code=STAGGERED, params=QUAD_SPACE,
                     budget={"iterations": 3}, search={"parallel": 2})
    cmd = [LABLOOP, "run", str(task), "--strategy", "search", "--auto-approve", "--no-memory", "--json"]
    proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    in_flight = job_id = None
    with open_store(settings.db_url) as store:
        deadline = time.monotonic() + 240
        while in_flight is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            jobs = list_jobs(store)
            if jobs:
                job_id = jobs[0].id
                in_flight = _half_done_round(list_experiments(store, job_id))
        assert in_flight is not None and job_id is not None, f"no half-done round was caught: {proc.stderr and proc.stderr.read()!r}"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        before = {r.id: r for r in list_experiments(store, job_id)}
        finished_before = {i for i, r in before.items() if r.status == "succeeded"}

        resumed = subprocess.run([LABLOOP, "resume", job_id, "--auto-approve", "--no-memory", "--json"],
                                 env=_env(home), capture_output=True, text=True, timeout=400)
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout)
        rows = list_experiments(store, job_id)
        started = _started(store, job_id)

    assert summary["status"] == "succeeded"
    assert summary["experiments"] == len(rows) == len({r.id for r in rows})  # nothing recorded twice
    assert all(started[i] == 1 for i in finished_before)  # the finished branch (and all before) did not run again
    assert started[in_flight] == 2  # the branch in flight ran again, from its start
    assert all(before[i].params == r.params for r in rows for i in [r.id] if i in before)  # the same points
    nodes = {r.id.removeprefix(job_id + "-").split("-")[0] for r in rows if r.role == "candidate"}
    assert nodes == {f"r{n}s{s}" for n in (1, 2, 3) for s in (0, 1)}  # the same tree: two branches a round
    report = Path(summary["report"]).read_text()
    assert all(f"| r{n}s{s} |" in report for n in (1, 2, 3) for s in (0, 1))
