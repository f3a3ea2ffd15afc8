"""Experiments that attack labloop itself, run for real in the real sandbox (issue 9's holes).

Each test is the attack that worked against the first version: it must now fail to reach the
host, and the run must end with a clear status instead of hanging or crashing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox.container import LABEL_OWNER, LABEL_SERVICE
from sandbox.outputs import MAX_ARTIFACTS
from sandbox.reaper import reap_containers, reap_slots
from sandbox.runner import DockerSandbox
from tests.conftest import TEST_SERVICE
from tests.sandbox.conftest import RunExperiment, make_request

pytestmark = pytest.mark.docker
RUNTIMES = ["runc", "runsc"]
REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024

@pytest.fixture(params=RUNTIMES)
def docker_sandbox(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path
) -> Iterator[DockerSandbox]:
    """A cold DockerSandbox under each runtime: every attack runs under runc and under gVisor."""
    runtime = None if request.param == "runc" else request.param
    with DockerSandbox(docker_client, image=sandbox_image, work_dir=tmp_path / "sandbox", pool_size=0,
                       service=TEST_SERVICE, reap_interval_s=None, runtime=runtime) as sandbox:
        yield sandbox


# Finds the launcher's end marker in its memory (same uid: /proc/PID/mem is readable), so the
# experiment can claim "the run is over" while its own processes go on.
STEAL_MARKER = """
import os, re
def steal_marker(pid):
    maps = open(f"/proc/{pid}/maps").read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("rw"):
                continue
            lo, hi = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(lo)
                found = re.search(rb"labloop:end:([0-9a-f]{24})", mem.read(hi - lo))
            except (OSError, ValueError, OverflowError):
                continue
            if found:
                return b"\\x00labloop:end:" + found.group(1) + b":"
    raise SystemExit("marker not found")
def find_launcher():
    pid = os.getppid()
    while b"-S" not in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0"):
        pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    return pid
"""


def test_a_symlink_swap_with_the_launcher_frozen_reads_no_host_file(
    docker_sandbox: DockerSandbox, tmp_path: Path
) -> None:
    secrets_dir = tmp_path / "host-secrets"
    secrets_dir.mkdir()
    (secrets_dir / "secret.txt").write_text("HOST-ONLY-SECRET")
    request = make_request(
        tmp_path / "run",
        STEAL_MARKER + textwrap.dedent(f"""
        import json, signal, sys, time
        out = os.environ["LABLOOP_OUTPUT"]
        os.makedirs(f"{{out}}/d")
        open(f"{{out}}/d/secret.txt", "w").write("decoy")
        json.dump({{"accuracy": 1.0}}, open(f"{{out}}/metrics.json", "w"))
        launcher = find_launcher()
        try:
            marker = steal_marker(launcher)        # to tell the host "the run is over" early
            print("stole the end marker", flush=True)
            os.write(1, marker + b"000"); os.write(2, marker + b"000")
        except PermissionError:
            print("the launcher's memory is closed", flush=True)
        if os.fork() == 0:                          # a background process outlives the command
            os.setsid()
            deadline = time.time() + 1
            while time.time() < deadline:
                try:
                    os.kill(launcher, signal.SIGSTOP)   # the launcher can no longer end the run
                except ProcessLookupError:
                    pass
                os.rename(f"{{out}}/d", f"{{out}}/d.real")  # swap the folder for a host link
                os.symlink("{secrets_dir}", f"{{out}}/d")
                time.sleep(0.0005)
                os.unlink(f"{{out}}/d")
                os.rename(f"{{out}}/d.real", f"{{out}}/d")
            os.rename(f"{{out}}/d", f"{{out}}/d.real")  # and leave the link in place, come what may
            os.symlink("{secrets_dir}", f"{{out}}/d")
            time.sleep(60)
            os._exit(0)
        time.sleep(0.5)
        """),
        metric="accuracy",
        timeout_s=5,
    )

    started = time.monotonic()
    result = docker_sandbox.run(request)

    assert time.monotonic() - started < 15
    assert "the launcher's memory is closed" in result.stdout_tail, result
    assert result.status in ("timed_out", "failed"), result
    copied = [p.read_text() for p in request.output_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    assert "HOST-ONLY-SECRET" not in copied
    assert [a.path for a in result.artifacts] == ["d.real/secret.txt"]  # the decoy, once
    assert "skipped 'd': it is a symbolic link" in result.notes  # the link to the host folder


@pytest.mark.parametrize(
    "attack",
    [
        'os.symlink("/etc/passwd", "/labloop/exit")',
        'os.mkfifo("/labloop/exit")',
        'os.symlink("/dev/zero", "/labloop/exit")',
        'os.unlink("/labloop/go")',
        'os.open("/labloop/go", os.O_WRONLY | os.O_NONBLOCK)',  # would hold the dead-man switch
    ],
)
def test_control_files_cannot_be_replaced_or_held(run_experiment: RunExperiment, attack: str) -> None:
    result = run_experiment(
        f"""
        import errno, os, sys
        try:
            {attack}
        except OSError as exc:
            print("refused:", errno.errorcode[exc.errno], flush=True)
            sys.exit(3)
        print("the attack went through", flush=True)
        sys.exit(4)
        """,
        timeout_s=30,
    )

    assert result.exit_code == 3, result  # from the engine: no file decides it
    assert "refused: E" in result.stdout_tail
    assert result.status == "failed" and result.error is not None
    assert result.error.startswith("exited with code 3")
    assert result.duration_s < 10


def test_the_exit_status_comes_from_the_engine(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert result.exit_code == 128 + signal.SIGKILL
    assert result.error is not None and result.error.startswith(f"exited with code {128 + signal.SIGKILL}")


def test_a_2gb_write_ends_at_the_disk_cap(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import os
        written = 0
        try:
            with open(os.environ["LABLOOP_OUTPUT"] + "/big.bin", "wb", buffering=0) as f:
                while written < 2 * 1024**3:
                    written += f.write(b"x" * (1024 * 1024))
        except OSError as exc:
            print("stopped:", exc.strerror, flush=True)
        print("written:", written, flush=True)
        """,
        disk_bytes=64 * MiB,
        memory="512m",
    )

    written = int(result.stdout_tail.split("written:")[1].split()[0])
    assert result.status == "failed", result
    assert result.error == "disk cap of 64 MiB reached"
    assert "stopped: No space left on device" in result.stdout_tail
    assert 0.9 * 64 * MiB <= written <= 1.1 * 64 * MiB


def test_100000_files_stop_at_the_file_cap_and_few_are_copied(run_experiment: RunExperiment) -> None:
    result = run_experiment(
        """
        import os
        out = os.environ["LABLOOP_OUTPUT"]
        made = 0
        try:
            for i in range(100_000):
                open(f"{out}/f{i:06d}", "w").close()
                made += 1
        except OSError as exc:
            print("stopped:", exc.strerror, flush=True)
        print("made:", made, flush=True)
        """,
        max_files=8000,
    )

    made = int(result.stdout_tail.split("made:")[1].split()[0])
    assert made < 8000
    assert result.status == "failed" and result.error == "disk cap of 8000 files reached", result
    assert len(result.artifacts) == MAX_ARTIFACTS
    assert f"only the first {MAX_ARTIFACTS} of {made} files were copied" in result.notes


def test_bad_names_are_skipped_with_a_note(run_experiment: RunExperiment, docker_sandbox: DockerSandbox) -> None:
    result = run_experiment(
        """
        import json, os
        out = os.fsencode(os.environ["LABLOOP_OUTPUT"])
        open(out + b"/bad\\xffname", "w").write("x")
        open(out + b"/ctl\\x01char", "w").write("x")
        os.mkdir(out + b"/dir\\x1b[31m")
        open(out + b"/dir\\x1b[31m/inner.txt", "w").write("x")
        os.mkfifo(out + b"/pipe")
        os.symlink("/etc/passwd", out + b"/link")
        open(out + b"/ok \\xc3\\xa9.txt", "w").write("fine")
        json.dump({"accuracy": 1.0}, open(out + b"/metrics.json", "w"))
        """,
        metric="accuracy",
    )

    assert result.status == "succeeded", result
    assert [a.path for a in result.artifacts] == ["ok é.txt"]
    notes = "\n".join(result.notes)
    assert "'bad\\udcffname': its name is not valid UTF-8" in notes
    assert "'ctl\\x01char': its name contains control characters" in notes
    assert "'dir\\x1b[31m': its name contains control characters" in notes
    assert "'link': it is a symbolic link" in notes
    if docker_sandbox.runtime is None:  # gVisor keeps the FIFO inside its sandbox: the host sees none
        assert "'pipe': it is a FIFO" in notes
    json.dumps(result.model_dump())  # the result is plain JSON


def test_sandbox_run_json_survives_a_bad_name(sandbox_image: str, tmp_path: Path) -> None:
    task = tmp_path / "task"
    task.mkdir()
    (task / "task.yaml").write_text(
        "name: badname\ngoal: g\nmetric: {name: m, direction: maximize}\nentrypoint: python3 exp.py\n"
    )
    (task / "exp.py").write_text(textwrap.dedent("""
        import json, os
        out = os.fsencode(os.environ["LABLOOP_OUTPUT"])
        open(out + b"/bad\\xffname", "w").write("x")
        json.dump({"m": 1.0}, open(out + b"/metrics.json", "w"))
    """))
    env = {**os.environ, "LABLOOP_HOME": str(tmp_path / "home"), "LABLOOP_SANDBOX_POOL_SIZE": "0"}
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "labloop"), "sandbox", "run", str(task), "--json"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded" and result["artifacts"] == []
    assert any("not valid UTF-8" in note for note in result["notes"])


def _mounts_under(root: Path) -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(root))]


def test_pool_containers_of_a_killed_process_are_reaped(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path
) -> None:
    service = f"labloop-orphans-{os.getpid()}"
    script = textwrap.dedent(f"""
        from pathlib import Path
        from sandbox.engine import connect
        from sandbox.result import Limits
        from sandbox.runner import DockerSandbox
        sandbox = DockerSandbox(connect(), image="{sandbox_image}", work_dir=Path("{tmp_path}/sb"),
                                pool_size=2, service="{service}", reap_interval_s=None)
        assert sandbox.pool.wait_ready("{sandbox_image}", Limits(), timeout_s=120)
        print("ready", flush=True)
        input()
    """)
    owner = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        pooled = docker_client.api.containers(all=True, filters={"label": f"{LABEL_SERVICE}={service}"})
        assert len(pooled) == 2
        assert all(c["Labels"][LABEL_OWNER].split(":")[1] == str(owner.pid) for c in pooled)
        assert reap_containers(docker_client, service=service) == []  # its owner still runs

        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        removed = reap_containers(docker_client, service=service)  # long before any expiry

        assert sorted(removed) == sorted(c["Id"] for c in pooled)
        assert docker_client.api.containers(all=True, filters={"label": f"{LABEL_SERVICE}={service}"}) == []
        assert len(_mounts_under(tmp_path)) == 2  # the slots' disks, until their folders are reaped
        reap_slots(tmp_path / "sb" / "slots", max_age_s=-1)
        assert _mounts_under(tmp_path) == []
    finally:
        owner.kill()
        for left in docker_client.api.containers(all=True, filters={"label": f"{LABEL_SERVICE}={service}"}):
            docker_client.api.remove_container(left["Id"], force=True)


def test_the_workspace_must_fit_the_disk(docker_sandbox: DockerSandbox, tmp_path: Path) -> None:
    request = make_request(tmp_path, "print('never runs')", disk_bytes=1 * MiB)
    (request.workspace / "data.bin").write_bytes(b"x" * 2 * MiB)

    result = docker_sandbox.run(request)

    assert result.status == "failed"
    assert result.error == (
        "the workspace does not fit the run's disk of 1 MiB; "
        "raise sandbox.disk in task.yaml or make the task's files smaller"
    )
