"""The example graded task tasks/election96, run as a user runs it: `labloop sandbox run` in the real sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[2]
TASK = REPO / "tasks" / "election96"
LABLOOP = [sys.executable, "-c", "from services.cli import main; main()"]


def _sandbox_run(task: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABLOOP_HOME": str(tmp_path / "home")}
    return subprocess.run([*LABLOOP, "sandbox", "run", str(task), "--json", *extra], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_baseline_is_graded_on_the_hidden_labels(sandbox_image: str, tmp_path: Path) -> None:
    done = _sandbox_run(TASK, tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert set(result["metrics"]) == {"log_loss", "accuracy"}  # the grader's metrics are the run's
    assert 0.0 < result["metrics"]["log_loss"] < 0.6931  # better than a coin (log 2)
    assert 0.75 < result["metrics"]["accuracy"] <= 1.0
    assert set(result["self_reported"]) == {"cv_log_loss"}  # what the experiment said of itself, kept apart
    assert "graded 236 rows (seed 0)" not in done.stdout  # the grader's own output is not the experiment's

    resampled = json.loads(_sandbox_run(TASK, tmp_path, "--seed", "3").stdout)
    assert resampled["metrics"]["log_loss"] != result["metrics"]["log_loss"]  # another seed, a bootstrap resample


def test_a_bad_prediction_file_fails_the_run_with_the_graders_reason(sandbox_image: str, tmp_path: Path) -> None:
    task = shutil.copytree(TASK, tmp_path / "election96")
    (task / "experiment.py").write_text(
        "import os\nfrom pathlib import Path\n"
        "Path(os.environ['LABLOOP_OUTPUT'], 'predictions.csv').write_text('id,vote\\n1,1.5\\n')\n")
    done = _sandbox_run(task, tmp_path)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["status"] == "failed" and result["metrics"] == {}
    assert "the grader failed" in result["error"]
    assert "vote '1.5' is not a probability in [0, 1]" in result["stderr_tail"]
