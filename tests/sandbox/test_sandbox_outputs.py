"""Metrics and artifacts come back; missing or bad outputs fail with a clear error."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sandbox.runner import DockerSandbox
from tests.sandbox.conftest import RunExperiment, make_request

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.docker


def test_metrics_and_artifacts_come_back_with_sizes_and_hashes(
    docker_sandbox: DockerSandbox, tmp_path: Path
) -> None:
    request = make_request(
        tmp_path,
        """
        import json, os
        out = os.environ["LABLOOP_OUTPUT"]
        params = json.load(open("params.json"))
        os.makedirs(f"{out}/plots", exist_ok=True)
        open(f"{out}/plots/curve.csv", "w").write("x,y\\n" * 1000)
        open(f"{out}/table.bin", "wb").write(bytes(range(256)) * 40)
        json.dump({"accuracy": params["C"] / 10, "seed": int(os.environ["LABLOOP_SEED"])},
                  open(f"{out}/metrics.json", "w"))
        print("done")
        """,
        metric="accuracy",
        files={"params.json": '{"C": 9.5}'},
    )
    request = type(request)(**{**request.__dict__, "seed": 7})

    result = docker_sandbox.run(request)

    assert result.status == "succeeded", result
    assert result.exit_code == 0 and result.error is None
    assert result.metrics == {"accuracy": 0.95, "seed": 7.0}
    assert result.stdout_tail == "done\n"
    assert [a.path for a in result.artifacts] == ["plots/curve.csv", "table.bin"]
    for artifact in result.artifacts:
        copied = (request.output_dir / artifact.path).read_bytes()
        assert artifact.size == len(copied) > 0
        assert artifact.sha256 == hashlib.sha256(copied).hexdigest()
    assert result.artifacts[1].size == 256 * 40


def test_missing_metrics_file_fails_with_a_clear_error(run_experiment: RunExperiment) -> None:
    result = run_experiment("print('forgot to write metrics')", metric="accuracy")

    assert result.status == "failed" and result.exit_code == 0
    assert result.error is not None and "no metrics.json" in result.error
    assert "$LABLOOP_OUTPUT/metrics.json" in result.error


def test_missing_metric_fails_naming_it(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import json, os
        json.dump({"loss": 0.3}, open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
        """,
        metric="accuracy",
    )

    assert result.status == "failed"
    assert result.error is not None and "no 'accuracy'" in result.error and "loss" in result.error
    assert result.metrics == {"loss": 0.3}


def test_non_numeric_metrics_fail_naming_the_key(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import json, os
        json.dump({"accuracy": {"nested": 1}}, open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
        """,
        metric="accuracy",
    )

    assert result.status == "failed"
    assert result.error is not None and "'accuracy'" in result.error and "not a number" in result.error


def test_non_zero_exit_fails_with_the_code_and_a_stderr_hint(run_experiment: RunExperiment) -> None:
    result = run_experiment("raise SystemExit('bad hyperparameter: C must be positive')")

    assert result.status == "failed" and result.exit_code == 1
    assert result.error == "exited with code 1: bad hyperparameter: C must be positive"
    assert "C must be positive" in result.stderr_tail


def test_outputs_over_the_cap_fail_and_nothing_is_copied(docker_sandbox: DockerSandbox, tmp_path: Path) -> None:
    request = make_request(
        tmp_path,
        """
        import json, os
        out = os.environ["LABLOOP_OUTPUT"]
        open(f"{out}/big.bin", "wb").write(b"x" * 3_000_000)
        json.dump({"accuracy": 1.0}, open(f"{out}/metrics.json", "w"))
        """,
        metric="accuracy",
        output_cap_bytes=1_000_000,
    )

    result = docker_sandbox.run(request)

    assert result.status == "failed"
    assert result.error is not None and "over the cap of 1000000 bytes" in result.error
    assert result.artifacts == []
    assert not (request.output_dir / "big.bin").exists()


def test_a_symlink_to_a_host_file_is_not_followed(docker_sandbox: DockerSandbox, tmp_path: Path) -> None:
    # The link resolves on the host when the service collects outputs; it must not be read.
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host only")
    request = make_request(
        tmp_path / "run",
        f"""
        import json, os
        out = os.environ["LABLOOP_OUTPUT"]
        os.symlink("{secret}", f"{{out}}/stolen.txt")
        os.symlink("{secret}", f"{{out}}/metrics.json")
        """,
        metric="accuracy",
    )

    result = docker_sandbox.run(request)

    assert result.status == "failed" and "no metrics.json" in (result.error or "")
    assert result.artifacts == []
    assert not (request.output_dir / "stolen.txt").exists()


def test_filling_the_disk_fails_at_the_kernel_cap(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        with open("/workspace/filler.bin", "wb") as f:
            while True:
                f.write(b"x" * 1_000_000)
        """,
        disk_bytes=20 * 1024 * 1024,
    )

    assert result.status == "failed", result
    assert result.error == "disk cap of 20 MiB reached"
    assert "No space left on device" in result.stderr_tail


def test_without_the_right_to_mount_the_disk_is_watched_instead(sandbox_image: str, tmp_path: Path) -> None:
    # A service that may not mount (no CAP_SYS_ADMIN) keeps slots on the host's disk and
    # kills a run that writes past the cap, measuring the slot while the run lasts.
    script = textwrap.dedent(f"""
        import json
        from pathlib import Path
        from sandbox.engine import connect
        from sandbox.result import Limits, RunRequest
        from sandbox.runner import DockerSandbox
        ws = Path("{tmp_path}/ws"); ws.mkdir()
        (ws / "exp.py").write_text(
            "import time\\nf = open('/workspace/filler.bin', 'wb')\\n"
            "while True:\\n    f.write(b'x' * 1_000_000); f.flush(); time.sleep(0.01)\\n"
        )
        with DockerSandbox(connect(), image="{sandbox_image}", work_dir=Path("{tmp_path}/sb"),
                           pool_size=0, reap_interval_s=None) as sandbox:
            limits = Limits(timeout_s=60, disk_bytes=20_000_000)
            result = sandbox.run(RunRequest(ws, Path("{tmp_path}/out"), "python3 exp.py", limits))
        print(json.dumps(result.model_dump()))
    """)
    done = subprocess.run(
        ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", sys.executable, "-c", script],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "failed"
    assert result["error"] == "disk cap of 19.0735 MiB reached"
    assert result["duration_s"] < 10
