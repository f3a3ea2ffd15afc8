"""The sandbox image: two recipes for the same image, cached by a hash of the recipe.

``Dockerfile`` is used when its base image is present or can be pulled; ``build-rootfs.sh``
(debootstrap from the host's own apt mirror, then ``docker import``) needs no image registry
at all and is used otherwise. The image carries ``labloop.recipe=<hash>`` and
``labloop.recipe_kind=dockerfile|debootstrap``; a present image with the current hash is
never rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from sandbox.engine import docker_errors, image_labels
from sandbox.errors import SandboxError

RECIPE_DIR = Path(__file__).parent / "image"
RECIPE_FILES = ("Dockerfile", "packages.txt", "build-rootfs.sh")
RECIPE_LABEL = "labloop.recipe"
KIND_LABEL = "labloop.recipe_kind"

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


def recipe_hash(recipe_dir: Path = RECIPE_DIR) -> str:
    """A short hash over every file of the recipe; it changes when any of them changes."""
    digest = hashlib.sha256()
    for name in RECIPE_FILES:
        digest.update(name.encode() + b"\0" + (recipe_dir / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class ImageStatus:
    """What is known about the sandbox image ``tag``."""

    tag: str
    present: bool
    recipe: str | None
    kind: str | None
    current_recipe: str

    @property
    def up_to_date(self) -> bool:
        """True when the image exists and was built from the current recipe."""
        return self.present and self.recipe == self.current_recipe


def image_status(client: docker.DockerClient, tag: str, recipe_dir: Path = RECIPE_DIR) -> ImageStatus:
    """Look the image up and compare its recipe label with the recipe on disk."""
    labels = image_labels(client, tag)
    return ImageStatus(
        tag=tag,
        present=labels is not None,
        recipe=(labels or {}).get(RECIPE_LABEL),
        kind=(labels or {}).get(KIND_LABEL),
        current_recipe=recipe_hash(recipe_dir),
    )


def base_image(recipe_dir: Path = RECIPE_DIR) -> str:
    """The ``FROM`` image of the Dockerfile."""
    for line in (recipe_dir / "Dockerfile").read_text().splitlines():
        if line.strip().upper().startswith("FROM "):
            return line.split()[1]
    raise SandboxError(f"{recipe_dir / 'Dockerfile'} has no FROM line")


def _base_available(client: docker.DockerClient, base: str, pull_timeout_s: float, log: Progress) -> bool:
    # Offline must be detected in seconds: a short-timeout client gives up on a silent registry,
    # and closing the connection makes the engine abandon the pull.
    if image_labels(client, base) is not None:
        return True
    log(f"image: trying to pull {base} (giving up after {pull_timeout_s:.0f} s of silence) ...")
    api = client.api
    saved_timeout = api.timeout
    api.timeout = max(1, int(pull_timeout_s))
    try:
        for event in api.pull(base, stream=True, decode=True):
            if "error" in event:
                log(f"image: pull failed: {event['error']}")
                return False
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        log(f"image: cannot pull {base} ({type(exc).__name__}); no registry reachable")
        return False
    finally:
        api.timeout = saved_timeout
    return image_labels(client, base) is not None


def _build_dockerfile(client: docker.DockerClient, tag: str, recipe: str, recipe_dir: Path, log: Progress) -> bool:
    log(f"image: building {tag} from {recipe_dir / 'Dockerfile'} ...")
    labels = {RECIPE_LABEL: recipe, KIND_LABEL: "dockerfile"}
    try:
        with docker_errors("docker build"):
            for event in client.api.build(
                path=str(recipe_dir), tag=tag, labels=labels, rm=True, forcerm=True, decode=True
            ):
                if "stream" in event and event["stream"].strip():
                    log("  " + event["stream"].rstrip())
                if "error" in event:
                    log(f"image: Dockerfile build failed: {event['error']}")
                    return False
    except SandboxError as exc:
        log(f"image: Dockerfile build failed: {exc}")
        return False
    return True


def _build_debootstrap(tag: str, recipe: str, recipe_dir: Path, log: Progress) -> None:
    if os.geteuid() != 0:
        raise SandboxError(
            "no base image can be pulled and the registry-free recipe (debootstrap) needs root: "
            f"run `labloop sandbox build` as root, or load {base_image(recipe_dir)} into Docker"
        )
    log(f"image: building {tag} with debootstrap from the host's apt mirror (no registry needed) ...")
    script = recipe_dir / "build-rootfs.sh"
    done = subprocess.run(["bash", str(script), tag, recipe], stdout=sys.stderr, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{script} failed with exit code {done.returncode}; see its output above")


def build_image(
    client: docker.DockerClient,
    tag: str,
    *,
    recipe_dir: Path = RECIPE_DIR,
    force: bool = False,
    pull_timeout_s: float = 8.0,
    log: Progress = _stderr,
) -> ImageStatus:
    """Build image ``tag`` unless it is present with the current recipe; return its status."""
    status = image_status(client, tag, recipe_dir)
    if status.up_to_date and not force:
        log(f"image: {tag} is up to date (recipe {status.recipe}, {status.kind})")
        return status
    if status.present:
        log(f"image: {tag} was built from recipe {status.recipe}, the recipe is now {status.current_recipe}")
    recipe = status.current_recipe
    built = _base_available(client, base_image(recipe_dir), pull_timeout_s, log) and _build_dockerfile(
        client, tag, recipe, recipe_dir, log
    )
    if not built:
        _build_debootstrap(tag, recipe, recipe_dir, log)
    status = image_status(client, tag, recipe_dir)
    if not status.up_to_date:
        raise SandboxError(f"built {tag} but its recipe label is {status.recipe!r}, not {recipe}")
    log(f"image: {tag} ready (recipe {status.recipe}, {status.kind})")
    return status
