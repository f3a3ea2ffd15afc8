"""Task environments (derived images with a task's packages) and GPU requests, on the real engine.

The packages are really fetched (PyPI through the host's pip configuration) and really built
into an image with no network; each test uses requirements no other test run shares, so the
build path runs every time, and removes what it built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from sandbox import container
from sandbox.environment import EnvironmentBuildFailed, ensure_environment
from sandbox.errors import PolicyViolation
from sandbox.result import Limits
from sandbox.runner import DockerSandbox
from sandbox.slot import Slot
from tests.sandbox.conftest import make_request

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[2]


def _unique_requirements() -> str:
    # Excluding a version that never existed changes nothing installed, but names a new environment.
    return f"tabulate==0.9.0,!=0.0.{uuid.uuid4().int % 10**9}\n"


@pytest.fixture
def fresh_requirements(docker_client: docker.DockerClient) -> Iterator[str]:
    """Requirements nobody built before; the images built for them are removed afterwards."""
    requirements = _unique_requirements()
    before = {image.id for image in docker_client.images.list("labloop-env")}
    yield requirements
    for image in docker_client.images.list("labloop-env"):
        if image.id not in before:
            docker_client.images.remove(image.id, force=True)


def test_a_task_environment_is_built_used_and_then_found(
    docker_sandbox: DockerSandbox, fresh_requirements: str, tmp_path: Path
) -> None:
    log: list[str] = []
    started = time.perf_counter()
    tag = docker_sandbox.environment(fresh_requirements, log=log.append)
    first_build = time.perf_counter() - started

    request = make_request(tmp_path, """
        import json, os, tabulate, sklearn
        print(tabulate.tabulate([["tabulate", tabulate.__version__]]))
        json.dump({"ok": 1}, open(os.environ["LABLOOP_OUTPUT"] + "/metrics.json", "w"))
    """, metric="ok")
    from dataclasses import replace
    result = docker_sandbox.run(replace(request, image=tag))

    started = time.perf_counter()
    again = docker_sandbox.environment(fresh_requirements, log=log.append)
    cached = time.perf_counter() - started

    assert result.status == "succeeded", result
    assert "tabulate  0.9.0" in result.stdout_tail
    assert again == tag
    assert any(line.startswith("environment: building") for line in log)
    assert any("Saved" in line and "tabulate" in line for line in log)  # fetched on the host
    assert cached <= 1.0, f"resolving the cached environment took {cached:.2f} s"
    print(f"\nenvironment: first build {first_build:.1f} s, cached lookup {cached * 1000:.0f} ms")
    with pytest.raises(ModuleNotFoundError):  # the host itself is not changed
        __import__("tabulate")


def test_two_jobs_starting_together_build_an_environment_once(
    sandbox_image: str, fresh_requirements: str, tmp_path: Path
) -> None:
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from sandbox.engine import connect
        from sandbox.environment import ensure_environment
        print(ensure_environment(connect(), {fresh_requirements!r}, base_image="{sandbox_image}",
                                 cache_dir=Path("{tmp_path}/envs"), log=print))
    """)
    jobs = [subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [job.communicate(timeout=600)[0] for job in jobs]

    assert all(job.returncode == 0 for job in jobs), outputs
    assert sum("environment: building" in out for out in outputs) == 1, outputs
    assert sum("was built meanwhile" in out for out in outputs) == 1, outputs
    tags = {out.strip().splitlines()[-1] for out in outputs}
    assert len(tags) == 1 and tags.pop().startswith("labloop-env:")


def test_a_misspelt_package_fails_naming_it(docker_client: docker.DockerClient, sandbox_image: str,
                                            tmp_path: Path) -> None:
    with pytest.raises(EnvironmentBuildFailed) as failed:
        ensure_environment(docker_client, "tabulatte-no-such-package==1.0\n", base_image=sandbox_image,
                           cache_dir=tmp_path / "envs", log=lambda line: None)
    assert "'tabulatte-no-such-package==1.0' could not be fetched" in str(failed.value)
    assert "No matching distribution" in str(failed.value)


def test_sandbox_build_and_run_a_task_with_requirements(sandbox_image: str, tmp_path: Path) -> None:
    env = {**os.environ, "LABLOOP_HOME": str(tmp_path / "home")}
    labloop = str(REPO / ".venv" / "bin" / "labloop")
    built = subprocess.run([labloop, "sandbox", "build", str(REPO / "tasks" / "mcmc")],
                           capture_output=True, text=True, env=env, timeout=600)
    ran = subprocess.run([labloop, "sandbox", "run", str(REPO / "tasks" / "mcmc"), "--json"],
                         capture_output=True, text=True, env=env, timeout=300)

    assert built.returncode == 0, built.stderr
    assert "environment: task mcmc runs in labloop-env:" in built.stderr
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert result["status"] == "succeeded" and 0 < result["metrics"]["mean_error"] < 5
    assert "emcee 3.1.6" in result["stdout_tail"]


def test_gpu_requests_become_nvidia_device_requests(docker_client: docker.DockerClient, sandbox_image: str,
                                                    tmp_path: Path) -> None:
    assert container.device_requests(0) is None
    two, every = container.device_requests(2), container.device_requests(-1)
    assert two is not None and every is not None
    assert (two[0]["Driver"], two[0]["Count"], two[0]["Capabilities"]) == ("nvidia", 2, [["gpu"]])
    assert every[0]["Count"] == -1

    # What the engine is sent, read back from a created (never started) container.
    slot = Slot.create(tmp_path / "slots", Limits(gpus=2))
    cid = container.create(docker_client, sandbox_image, Limits(gpus=2), slot, {"labloop.service": "labloop-test"})
    try:
        requested = docker_client.api.inspect_container(cid)["HostConfig"]["DeviceRequests"]
    finally:
        docker_client.api.remove_container(cid, force=True)
        slot.remove()
    assert requested == [{"Driver": "nvidia", "Count": 2, "DeviceIDs": [], "Capabilities": [["gpu"]],
                          "Options": {}}]


def test_a_gpu_task_on_an_engine_without_gpus_is_refused(docker_sandbox: DockerSandbox, tmp_path: Path) -> None:
    with pytest.raises(PolicyViolation, match="no NVIDIA runtime: install the NVIDIA Container Toolkit"):
        docker_sandbox.run(make_request(tmp_path, "print('never runs')", gpus=1))
