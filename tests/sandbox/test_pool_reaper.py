"""The warm pool hands out fresh containers once each; cancel and the reaper clean up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import docker
import pytest

from sandbox.container import LABEL_EXPIRES, LABEL_JOB, LABEL_POOL, LABEL_SERVICE
from sandbox.reaper import Reaper, reap_containers, reap_slots
from sandbox.result import ExperimentResult, Limits, RunRequest
from sandbox.runner import DockerSandbox
from tests.sandbox.conftest import make_request

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[2]


def _containers(client: docker.DockerClient, service: str) -> list[dict]:
    return client.api.containers(all=True, filters={"label": f"{LABEL_SERVICE}={service}"})


def _wait_for(predicate, timeout_s: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_warm_pool_runs_each_experiment_in_a_fresh_pre_started_container(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path
) -> None:
    service = f"labloop-pool-test-{os.getpid()}"
    code = """
    import os, socket
    print(socket.gethostname(), open("/labloop/run.json").read())
    """
    with DockerSandbox(
        docker_client, image=sandbox_image, work_dir=tmp_path / "sb", pool_size=1,
        service=service, reap_interval_s=None,
    ) as sandbox:
        limits = Limits(timeout_s=30)
        sandbox.prewarm(limits)
        assert sandbox.pool.wait_ready(sandbox_image, limits)
        (pooled,) = _containers(docker_client, service)
        labels = pooled["Labels"]
        assert labels[LABEL_POOL] == sandbox.pool_key(limits) and float(labels[LABEL_EXPIRES]) > time.time()
        assert LABEL_JOB not in labels  # a pooled container cannot know its job yet

        hosts = []
        for i in range(2):
            request = make_request(tmp_path / f"r{i}", code, timeout_s=30)
            request = RunRequest(**{**request.__dict__, "labels": {"job": "job-7", "experiment": f"e{i}"}})
            result = sandbox.run(request)
            assert result.status == "failed" and result.exit_code == 0, result  # no metrics: fine here
            host, recorded = result.stdout_tail.split(" ", 1)
            assert json.loads(recorded)["job"] == "job-7" and json.loads(recorded)["experiment"] == f"e{i}"
            hosts.append(host)
            assert sandbox.pool.wait_ready(sandbox_image, limits)
        assert pooled["Id"].startswith(hosts[0])  # the first run used the pre-started container
        assert hosts[0] != hosts[1]  # and the second a fresh one: never reused
        assert _wait_for(lambda: len(_containers(docker_client, service)) == 1)
    assert _containers(docker_client, service) == []  # close() removed the pooled one


def test_cancel_kills_the_running_experiments_of_a_job(docker_sandbox: DockerSandbox, tmp_path: Path) -> None:
    request = make_request(tmp_path, "import time; print('started', flush=True); time.sleep(120)")
    request = RunRequest(**{**request.__dict__, "labels": {"job": "job-cancel", "experiment": "x1"}})
    started = threading.Event()
    results: list[ExperimentResult] = []
    thread = threading.Thread(
        target=lambda: results.append(docker_sandbox.run(request, lambda s, t: started.set()))
    )
    thread.start()
    assert started.wait(30)
    assert [r["job"] for r in docker_sandbox.running()] == ["job-cancel"]

    t0 = time.monotonic()
    assert docker_sandbox.cancel("job-other") == 0
    assert docker_sandbox.cancel("job-cancel") == 1
    thread.join(timeout=30)

    assert time.monotonic() - t0 < 5
    assert results[0].status == "failed" and "cancelled" in (results[0].error or "")
    assert docker_sandbox.running() == []


def test_the_reaper_removes_what_a_killed_service_left_behind(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path
) -> None:
    service = f"labloop-killed-{os.getpid()}"
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from sandbox.engine import connect
        from sandbox.result import Limits, RunRequest
        from sandbox.runner import DockerSandbox
        ws = Path("{tmp_path}/ws"); ws.mkdir()
        (ws / "exp.py").write_text("import time; print('running', flush=True); time.sleep(300)")
        sandbox = DockerSandbox(connect(), image="{sandbox_image}", work_dir=Path("{tmp_path}/sb"),
                                pool_size=1, expiry_s=3, service="{service}", reap_interval_s=None)
        limits = Limits(timeout_s=300)
        def report(stream, text):  # once the refilled pool container listens too
            sandbox.pool.wait_ready("{sandbox_image}", limits)
            sys.stdout.write(text)
            sys.stdout.flush()
        sandbox.run(RunRequest(ws, Path("{tmp_path}/out"), "python3 exp.py", limits), report)
        """
    )
    service_process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    keeper = None
    try:
        assert service_process.stdout is not None
        assert service_process.stdout.readline().strip() == "running"
        assert _wait_for(lambda: len(_containers(docker_client, service)) == 2)  # the run + a pooled one
        service_process.send_signal(signal.SIGKILL)
        service_process.wait(timeout=10)
        # Its launchers read EOF on their FIFOs: the running experiment and the pooled container
        # stop at once instead of burning CPU until they expire ...
        assert _wait_for(
            lambda: all(c["State"] == "exited" for c in _containers(docker_client, service)), 10
        )
        left = _containers(docker_client, service)
        assert len(left) == 2

        # ... and later, once their expiry has passed, any labloop process's reaper removes them
        later = max(float(c["Labels"][LABEL_EXPIRES]) for c in left) + 1
        keeper = docker_client.api.create_container(
            sandbox_image, command=["sleep", "60"],
            labels={LABEL_SERVICE: service, LABEL_EXPIRES: str(int(later + 3600))},
        )["Id"]
        removed = reap_containers(docker_client, now=later, service=service)
        slots = tmp_path / "sb" / "slots"
        reap_slots(slots, max_age_s=-1)

        assert set(removed) == {c["Id"] for c in left}
        assert [c["Id"] for c in _containers(docker_client, service)] == [keeper]  # ... but not this one
        assert list(slots.iterdir()) == []
    finally:
        service_process.kill()
        if keeper:
            docker_client.api.remove_container(keeper, force=True)
        for leftover in _containers(docker_client, service):
            docker_client.api.remove_container(leftover["Id"], force=True)


def test_the_reaper_runs_at_start_and_then_periodically(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path
) -> None:
    service = f"labloop-expired-{os.getpid()}"

    def expired_container() -> str:
        return str(docker_client.api.create_container(
            sandbox_image, command=["sleep", "60"],
            labels={LABEL_SERVICE: service, LABEL_EXPIRES: str(int(time.time() - 1))},
        )["Id"])

    first = expired_container()
    reaper = Reaper(docker_client, tmp_path / "slots", max_age_s=3600, interval_s=0.3)
    try:
        reaper.start()
        assert _containers(docker_client, service) == []  # reaped at start, synchronously
        second = expired_container()
        assert _wait_for(lambda: _containers(docker_client, service) == [], timeout_s=5)
    finally:
        reaper.stop()
        for leftover in _containers(docker_client, service):
            docker_client.api.remove_container(leftover["Id"], force=True)
    assert first != second


def test_a_pooled_container_that_died_is_skipped(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path
) -> None:
    with DockerSandbox(
        docker_client, image=sandbox_image, work_dir=tmp_path / "sb", pool_size=1,
        service=f"labloop-dead-{os.getpid()}", reap_interval_s=None,
    ) as sandbox:
        limits = Limits(timeout_s=30)
        sandbox.prewarm(limits)
        assert sandbox.pool.wait_ready(sandbox_image, limits)
        (dead,) = _containers(docker_client, f"labloop-dead-{os.getpid()}")
        docker_client.api.kill(dead["Id"])
        docker_client.api.wait(dead["Id"], timeout=10)

        request = make_request(tmp_path / "r", "import socket; print(socket.gethostname())", timeout_s=30)
        result = sandbox.run(request)

        assert result.exit_code == 0, result
        assert not dead["Id"].startswith(result.stdout_tail.strip())


def test_the_reaper_keeps_slot_folders_that_a_container_still_mounts(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path
) -> None:
    slots = tmp_path / "slots"
    (slots / "in-use" / "workspace").mkdir(parents=True)
    (slots / "abandoned" / "workspace").mkdir(parents=True)
    living = docker_client.api.create_container(
        sandbox_image, command=["sleep", "60"],
        labels={LABEL_SERVICE: f"labloop-slots-{os.getpid()}", LABEL_EXPIRES: str(int(time.time() + 3600))},
        host_config=docker_client.api.create_host_config(
            binds={str(slots / "in-use" / "workspace"): {"bind": "/workspace", "mode": "rw"}}
        ),
    )["Id"]
    try:
        Reaper(docker_client, slots, max_age_s=-1).reap()
        assert sorted(p.name for p in slots.iterdir()) == ["in-use"]
    finally:
        docker_client.api.remove_container(living, force=True)


def test_the_reaper_removes_finished_containers_before_they_expire(
    docker_client: docker.DockerClient, sandbox_image: str
) -> None:
    service = f"labloop-finished-{os.getpid()}"
    labels = {LABEL_SERVICE: service, LABEL_EXPIRES: str(int(time.time() + 3600))}
    finished = docker_client.api.create_container(sandbox_image, command=["true"], labels=labels)["Id"]
    waiting = docker_client.api.create_container(sandbox_image, command=["sleep", "60"], labels=labels)["Id"]
    try:
        docker_client.api.start(finished)
        docker_client.api.wait(finished, timeout=30)
        # Just exited: its runner may still be reading its status, so it stays ...
        assert reap_containers(docker_client, service=service, exited_grace_s=60) == []
        # ... but once it has been exited longer than the grace, it goes, unlike a container
        # that never ran.
        later = time.time() + 61
        assert reap_containers(docker_client, now=later, service=service, exited_grace_s=60) == [finished]
        assert [c["Id"] for c in _containers(docker_client, service)] == [waiting]
    finally:
        for leftover in _containers(docker_client, service):
            docker_client.api.remove_container(leftover["Id"], force=True)
