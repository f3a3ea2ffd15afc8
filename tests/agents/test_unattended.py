"""An unattended `labloop run` (stdin not a terminal) never loses a job at a gate."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from services.settings import Settings
from services.store import get_job, list_experiments, open_store
from tests.agents.conftest import QUAD_SPACE, QUADRATIC, make_task
from tests.agents.test_resume import LABLOOP, _env
from tests.services.conftest import free_port


def test_a_run_with_no_terminal_leaves_the_job_waiting_and_labloop_approve_resumes_it(
    tmp_path: Path, home: Path, settings: Settings
) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 1})
    env = {**_env(home), "LABLOOP_API_URL": f"http://127.0.0.1:{free_port()}"}  # no server answers there
    ran = subprocess.run([LABLOOP, "run", str(task), "--strategy", "search", "--gate", "idea=always",
                          "--gate", "finding=never", "--no-memory", "--json"], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=300)

    assert ran.returncode == 3, ran.stderr  # waiting: neither success (0) nor failure (1)
    waiting = json.loads(ran.stdout)
    (checkpoint,) = waiting["checkpoints"]
    job_id = waiting["job_id"]
    assert waiting["status"] == "waiting" and checkpoint["kind"] == "idea"
    assert f"labloop approve {checkpoint['id']}" in ran.stderr and f"labloop resume {job_id}" in ran.stderr
    with open_store(settings.db_url) as store:
        assert get_job(store, job_id).status == "waiting"

    approved = subprocess.run([LABLOOP, "approve", checkpoint["id"], "--json"], env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)

    assert approved.returncode == 0, approved.stderr
    summary = json.loads(approved.stdout)
    assert summary["status"] == "succeeded" and summary["job_id"] == job_id
    with open_store(settings.db_url) as store:
        assert get_job(store, job_id).status == "succeeded"
        assert [r.role for r in list_experiments(store, job_id)][:2] == ["baseline", "candidate"]
    assert "| cli |" in Path(summary["report"]).read_text()  # the decision, by whom, is in the report
