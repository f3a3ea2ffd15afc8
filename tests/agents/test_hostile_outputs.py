"""A job whose experiments write a metrics.json nested 100 000 deep goes on: those runs fail, with the reason.

Before, the parser's RecursionError escaped the sandbox: the job ended as an ``internal error``
and the experiment's record stayed ``running`` for good.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox.metrics import METRICS_MAX_DEPTH
from services.collaborators import Collaborators
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import QUAD_SPACE, make_task, run_job

# The baseline (no params.json) reports its score; every candidate writes a bracket bomb instead.
BOMB = '''
    import json, os
    from pathlib import Path
    out = Path(os.environ["LABLOOP_OUTPUT"])
    if Path("params.json").exists():
        (out / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    else:
        (out / "metrics.json").write_text(json.dumps({"score": -1.0}))
'''


def test_a_deep_metrics_file_fails_the_run_and_the_job_goes_on(tmp_path: Path, settings: Settings, store: Store,
                                                                 sandbox: object) -> None:
    task = make_task(tmp_path / "bomb", name="bomb", code=BOMB, params=QUAD_SPACE, budget={"iterations": 2})
    outcome = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search")  # type: ignore[arg-type]

    assert outcome.status == "succeeded", outcome.error
    rows = list_experiments(store, outcome.job_id)
    assert [r.status for r in rows if r.role == "baseline"] == ["succeeded"]
    candidates = [r for r in rows if r.role != "baseline"]
    assert len(candidates) >= 2
    for row in candidates:
        assert row.status == "failed"
        error = (row.result or {})["error"]
        assert f"metrics.json is nested more than {METRICS_MAX_DEPTH} levels deep" in error
    assert all(r.status != "running" for r in rows)
    assert outcome.summary["best"]["metrics"] == {"score": -1.0}


def test_an_experiment_whose_sandbox_run_raises_is_recorded_failed_not_running(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "elsewhere", name="elsewhere", code=BOMB, params=QUAD_SPACE, budget={"iterations": 1})
    spec = yaml.safe_load((task / "task.yaml").read_text())
    spec["sandbox"]["image"] = "labloop-absent:none"  # the sandbox refuses it when the run starts
    (task / "task.yaml").write_text(yaml.safe_dump(spec))
    outcome = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search")  # type: ignore[arg-type]

    assert outcome.status == "failed"
    (row,) = list_experiments(store, outcome.job_id)
    assert row.status == "failed"
    assert (row.result or {})["error"].startswith("the sandbox failed: ")
