"""The connection to the Docker engine, and Docker's errors translated where they enter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from sandbox.errors import DockerUnavailable, ImageMissing, SandboxError

FIX_ENGINE = "start one with scripts/ensure-docker.sh (or `make setup`)"
FIX_IMAGE = "build it with `labloop sandbox build` (or `make setup`)"


def connect(base_url: str | None = None, timeout: float = 60.0) -> docker.DockerClient:
    """A client of the local (or ``base_url``) Docker engine that has answered a ping."""
    try:
        client = (
            docker.DockerClient(base_url=base_url, timeout=int(timeout))
            if base_url
            else docker.from_env(timeout=int(timeout))
        )
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerUnavailable(f"no Docker engine answers ({exc}); {FIX_ENGINE}") from exc
    return client


@contextmanager
def docker_errors(what: str) -> Iterator[None]:
    """Translate Docker's exceptions raised while doing ``what`` into labloop's."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise ImageMissing(f"{what}: the sandbox image is missing ({exc}); {FIX_IMAGE}") from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise DockerUnavailable(f"{what}: the Docker engine stopped answering ({exc}); {FIX_ENGINE}") from exc
    except docker.errors.DockerException as exc:
        raise SandboxError(f"{what}: Docker refused ({exc})") from exc


def image_labels(client: docker.DockerClient, tag: str) -> dict[str, str] | None:
    """The labels of image ``tag``, or None when no such image is present."""
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(f"cannot inspect image {tag} ({exc}); {FIX_ENGINE}") from exc
    return dict(image.labels or {})


def require_image(client: docker.DockerClient, tag: str) -> None:
    """Raise ImageMissing (with the fix) unless image ``tag`` is present."""
    if image_labels(client, tag) is None:
        raise ImageMissing(f"the sandbox image {tag} is not built; {FIX_IMAGE}")


@dataclass(frozen=True)
class EngineLimits:
    """Which resource limits the engine can enforce (from ``docker info``)."""

    memory: bool
    swap: bool
    pids: bool
    cpu: bool
    cgroup_version: str
    server_version: str
    runtimes: tuple[str, ...] = ()
    default_runtime: str = "runc"

    @property
    def missing(self) -> list[str]:
        """Names of the limits the engine would silently ignore."""
        wanted = {"memory": self.memory, "memory+swap": self.swap, "pids": self.pids, "cpu": self.cpu}
        return [name for name, ok in wanted.items() if not ok]


def engine_limits(client: docker.DockerClient) -> EngineLimits:
    """Ask the engine which limits it enforces."""
    with docker_errors("docker info"):
        info: dict[str, Any] = client.info()
    return EngineLimits(
        memory=bool(info.get("MemoryLimit")),
        swap=bool(info.get("SwapLimit")),
        pids=bool(info.get("PidsLimit")),
        cpu=bool(info.get("CpuCfsQuota")),
        cgroup_version=str(info.get("CgroupVersion", "?")),
        server_version=str(info.get("ServerVersion", "?")),
        runtimes=tuple(sorted(info.get("Runtimes") or {})),
        default_runtime=str(info.get("DefaultRuntime", "runc")),
    )
