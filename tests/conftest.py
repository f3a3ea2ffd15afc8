"""Fixtures shared by every test package: the real Docker engine and the sandbox image.

``docker_client`` and ``sandbox_image`` fail (never skip) when the engine or the image is
missing: `make setup` provides both. ``docker_sandbox`` is a cold DockerSandbox (no pool) whose
slots live in the test's temporary folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox.disk import unmount
from sandbox.engine import connect
from sandbox.errors import DockerUnavailable
from sandbox.image import image_status
from sandbox.runner import DockerSandbox
from services.settings import get_settings

TEST_SERVICE = "labloop-test"


def _unmount_slot_disks(root: Path) -> None:
    # A service that a test kills with -9 leaves its slots' disks (tmpfs) mounted; nothing else
    # in a temporary folder will ever reap them, and pytest could not delete the folders.
    for line in Path("/proc/mounts").read_text().splitlines():
        source, target = line.split()[:2]
        if source == "labloop-slot" and target.startswith(str(root)):
            unmount(Path(target))


@pytest.fixture(scope="session", autouse=True)
def _slot_disks_are_unmounted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the session, unmount slot disks left under this session's temporary folder."""
    yield
    _unmount_slot_disks(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A client of the real Docker engine."""
    try:
        client = connect(timeout=60)
    except DockerUnavailable as exc:
        pytest.fail(f"{exc}\nThe docker tests need a running engine: run `make setup` first.")
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_image(docker_client: docker.DockerClient) -> str:
    """The tag of the sandbox image, built from the current recipe."""
    tag = get_settings().sandbox_image
    status = image_status(docker_client, tag)
    if not status.up_to_date:
        state = "is missing" if not status.present else f"was built from an older recipe ({status.recipe})"
        pytest.fail(f"the sandbox image {tag} {state}: run `make setup` (or `labloop sandbox build`).")
    return tag


@pytest.fixture
def docker_sandbox(docker_client: docker.DockerClient, sandbox_image: str, tmp_path: Path) -> Iterator[DockerSandbox]:
    """A DockerSandbox without a warm pool, cleaned up after the test."""
    with DockerSandbox(
        docker_client,
        image=sandbox_image,
        work_dir=tmp_path / "sandbox",
        pool_size=0,
        service=TEST_SERVICE,
        reap_interval_s=None,
    ) as sandbox:
        yield sandbox
