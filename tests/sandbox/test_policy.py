"""The server's sandbox policy: what a task may ask for, and the isolated network when allowed."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import tarfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox.errors import PolicyViolation
from sandbox.network import EGRESS_NETWORK
from sandbox.policy import SandboxPolicy
from sandbox.result import Limits
from sandbox.runner import DockerSandbox
from tests.conftest import TEST_SERVICE
from tests.sandbox.conftest import make_request

REPO = Path(__file__).resolve().parents[2]


def test_every_ceiling_names_its_setting() -> None:
    policy = SandboxPolicy(max_cpus=2, max_memory="4g", max_pids=512, max_timeout_s=600, max_disk="1g")
    asked = Limits(cpus=8, memory="100000g", pids=4096, timeout_s=86_400, network="bridge",
                   disk_bytes=2 * 1024**3, gpus=-1)

    with pytest.raises(PolicyViolation) as refused:
        policy.check(asked)

    message = str(refused.value)
    for setting in ("ALLOW_NETWORK", "MAX_CPUS", "MAX_MEMORY", "MAX_PIDS", "MAX_TIMEOUT_S", "MAX_DISK", "MAX_GPUS"):
        assert f"LABLOOP_SANDBOX_{setting}" in message
    assert "memory 1.07374e+14 is over this server's ceiling of 4g" in message
    assert "gpus all is over this server's ceiling of 0" in message
    policy.check(Limits(cpus=2, memory="4g", pids=512, timeout_s=600, disk_bytes=1024**3))  # at the ceiling


pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def foreign_image(docker_client: docker.DockerClient) -> Iterator[str]:
    """An image not built from the sandbox image (imported from a one-file tarball)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    tag = f"labloop-test-foreign:{uuid.uuid4().hex[:8]}"
    docker_client.api.import_image_from_data(data.getvalue(), repository=tag.split(":")[0], tag=tag.split(":")[1])
    yield tag
    docker_client.api.remove_image(tag, force=True)


@pytest.fixture(scope="module")
def derived_image(docker_client: docker.DockerClient, sandbox_image: str) -> Iterator[str]:
    """An image built FROM the sandbox image (as task environments are)."""
    tag = f"labloop-test-derived:{uuid.uuid4().hex[:8]}"
    dockerfile = f"FROM {sandbox_image}\nLABEL labloop.test=derived\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, pull=False)
    yield tag
    docker_client.api.remove_image(tag, force=True)


def test_images_are_limited_to_the_sandbox_and_what_is_built_from_it(
    docker_sandbox: DockerSandbox, foreign_image: str, derived_image: str, tmp_path: Path
) -> None:
    request = make_request(tmp_path, "import json, os; json.dump({'m': 1}, open(os.environ['LABLOOP_OUTPUT'] + '/metrics.json', 'w'))")

    with pytest.raises(PolicyViolation, match="LABLOOP_SANDBOX_ALLOWED_IMAGES"):
        docker_sandbox.run(_with(request, image=foreign_image))
    assert docker_sandbox.run(_with(request, image=derived_image)).status == "succeeded"


def test_network_is_refused_unless_the_operator_allows_it(docker_sandbox: DockerSandbox, tmp_path: Path) -> None:
    request = make_request(tmp_path, "print('never runs')", network="bridge")
    with pytest.raises(PolicyViolation, match="LABLOOP_SANDBOX_ALLOW_NETWORK"):
        docker_sandbox.run(request)


def test_the_cli_refuses_a_task_over_the_policy(sandbox_image: str, tmp_path: Path) -> None:
    task = tmp_path / "greedy"
    task.mkdir()
    (task / "task.yaml").write_text(textwrap.dedent("""
        name: greedy
        goal: g
        metric: {name: m}
        entrypoint: python3 exp.py
        sandbox: {memory: 64g, network: bridge}
    """))
    (task / "exp.py").write_text("print(1)\n")
    env = {**os.environ, "LABLOOP_HOME": str(tmp_path / "home"), "LABLOOP_SANDBOX_MAX_MEMORY": "2g"}
    done = subprocess.run([str(REPO / ".venv/bin/labloop"), "sandbox", "run", str(task)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0
    assert "LABLOOP_SANDBOX_ALLOW_NETWORK" in done.stderr and "LABLOOP_SANDBOX_MAX_MEMORY" in done.stderr
    assert "Traceback" not in done.stderr


def test_allowed_network_reaches_neither_the_host_nor_other_containers(
    docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path
) -> None:
    with DockerSandbox(docker_client, image=sandbox_image, work_dir=tmp_path / "sb", pool_size=0,
                       service=TEST_SERVICE, reap_interval_s=None,
                       policy=SandboxPolicy(allow_network=True)) as sandbox:
        gateway = docker_client.api.inspect_network(EGRESS_NETWORK)["IPAM"]["Config"][0]["Gateway"]
        listener = socket.create_server(("0.0.0.0", 0))  # the host: must stay unreachable
        neighbour = docker_client.api.create_container(
            sandbox_image, command=["python3", "-m", "http.server", "8080"], user="65534",
            labels={"labloop.service": TEST_SERVICE},
            host_config=docker_client.api.create_host_config(network_mode=EGRESS_NETWORK),
        )["Id"]
        try:
            docker_client.api.start(neighbour)
            neighbour_ip = docker_client.api.inspect_container(neighbour)["NetworkSettings"]["Networks"][
                EGRESS_NETWORK]["IPAddress"]
            assert _reachable_from_host(neighbour_ip, 8080)  # the neighbour does listen
            result = sandbox.run(make_request(tmp_path / "exp", f"""
                import json, os, socket
                def reach(host, port):
                    try:
                        socket.create_connection((host, port), timeout=3).close()
                        return 1
                    except OSError as exc:
                        print(host, port, "unreachable:", exc)
                        return 0
                names = [n for _, n in socket.if_nameindex()]
                json.dump({{"interfaces": len(names),
                           "host": reach("{gateway}", {listener.getsockname()[1]}),
                           "neighbour": reach("{neighbour_ip}", 8080)}},
                          open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
                """, network="bridge"))
        finally:
            listener.close()
            docker_client.api.remove_container(neighbour, force=True)

    assert result.status == "succeeded", result
    assert result.metrics == {"interfaces": 2, "host": 0, "neighbour": 0}  # lo + eth0, but walled in


def _reachable_from_host(host: str, port: int) -> bool:
    for _ in range(50):
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            import time
            time.sleep(0.1)
    return False


def _with(request, **changes):  # type: ignore[no-untyped-def]
    from dataclasses import replace
    return replace(request, **changes)
