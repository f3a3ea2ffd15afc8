"""Task environments: images built FROM the sandbox image with a task's own Python packages.

    tag = ensure_environment(client, requirements_text, base_image="labloop-sandbox:latest",
                             cache_dir=home / "envs", log=print)

The packages are fetched **on the host**, by the host's pip with its package-index
configuration (proxy, CA bundle, mirrors), as wheels for the image's Python and platform. What
pip is handed is the list :mod:`sandbox.requirements` built from the parsed requirements (names,
versions, extras and markers: never a URL, a path, an option or the task's own text), and pip
runs as a guest (:mod:`sandbox.pip_guest`: its own empty folder, a scrubbed environment, another
uid when the service is root). The image is then built with no network at all: pip itself is
run from its wheel inside the build and installs from those wheels only, next to the image's
Debian packages (which it keeps when they satisfy a requirement). The experiment never has
network either.

An environment is named by a hash of the base image's recipe, its Python version and the
requirements (``labloop-env:<hash>``), so every host with the same recipe builds, or finds, the
same tag; with ``registry`` set it is pulled from there first and pushed there once built.
Builds of one environment are serialised by a file lock, so two jobs that start together build
it once.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import platform
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from sandbox.engine import docker_errors, image_labels
from sandbox.errors import InvalidInput, SandboxError
from sandbox.pip_guest import PipGuest
from sandbox.requirements import normalise_text

ENV_REPOSITORY = "labloop-env"
ENV_LABEL = "labloop.env"
BASE_LABEL = "labloop.env.base"
RECIPE_LABEL = "labloop.recipe"
PIP_VERSION = "25.3"  # the pip that installs inside the build, run from its own wheel
FETCH_TIMEOUT_S = 1800.0  # the host's pip downloading a task's wheels; a hung index must not hold the lock forever
_GLIBC_MINORS = range(17, 37)  # manylinux tags the image's glibc (2.36) accepts
Progress = Callable[[str], None]

DOCKERFILE = """\
FROM {base}
USER root
COPY wheels /tmp/labloop-wheels
RUN python3 /tmp/labloop-wheels/{pip_wheel}/pip install --no-index --find-links /tmp/labloop-wheels \\
      --break-system-packages --no-cache-dir --disable-pip-version-check --no-warn-script-location \\
      -r /tmp/labloop-wheels/requirements.txt \\
 && rm -rf /tmp/labloop-wheels
USER 65534:65534
"""


class EnvironmentBuildFailed(InvalidInput):
    """A task's packages could not be fetched or installed; the message names the package."""

    code = "environment_build_failed"


@dataclass(frozen=True)
class Environment:
    """One task environment: its requirements and the image tag that holds them."""

    key: str
    tag: str
    requirements: str
    python: str  # major.minor of the image's Python, which the wheels are fetched for


def normalise(requirements: str) -> str:
    """The requirements parsed and normalised: names, versions, extras and markers, one per
    line, sorted (InvalidRequirements naming the line for anything else)."""
    return normalise_text(requirements, source="the task's requirements")


def describe(client: docker.DockerClient, requirements: str, base_image: str, cache_dir: Path,
             registry: str | None = None) -> Environment:
    """The environment for ``requirements`` on ``base_image`` (nothing is built)."""
    text = normalise(requirements)
    labels = image_labels(client, base_image)
    if labels is None:
        raise SandboxError(f"the sandbox image {base_image} is missing; build it with `labloop sandbox build`")
    recipe = labels.get(RECIPE_LABEL) or _image_id(client, base_image)
    python = image_python(client, base_image, cache_dir)
    key = hashlib.sha256(f"{recipe}\0{python}\0{text}".encode()).hexdigest()[:16]
    repository = f"{registry.rstrip('/')}/{ENV_REPOSITORY}" if registry else ENV_REPOSITORY
    return Environment(key=key, tag=f"{repository}:{key}", requirements=text, python=python)


def ensure_environment(
    client: docker.DockerClient,
    requirements: str,
    *,
    base_image: str,
    cache_dir: Path,
    log: Progress,
    registry: str | None = None,
) -> str:
    """The tag of the environment image for ``requirements``, built (once) if missing."""
    env = describe(client, requirements, base_image, cache_dir, registry)
    if image_labels(client, env.tag) is not None:
        log(f"environment: {env.tag} (built before)")
        return env.tag
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / f"{env.key}.lock"):
        if image_labels(client, env.tag) is not None:  # built by whoever held the lock
            log(f"environment: {env.tag} was built meanwhile")
            return env.tag
        if registry and _pull(client, env.tag, log):
            return env.tag
        log(f"environment: building {env.tag} for {len(env.requirements.splitlines())} requirement(s) ...")
        with tempfile.TemporaryDirectory(prefix="labloop-env-") as tmp:
            wheels = Path(tmp) / "wheels"
            pip_wheel = fetch_wheels(env.requirements, wheels, python=env.python, log=log)
            _build(client, env, base_image, wheels, pip_wheel, log)
        if registry:
            _push(client, env.tag, log)
        log(f"environment: {env.tag} ready")
        return env.tag


def fetch_wheels(requirements: str, dest: Path, *, python: str, log: Progress) -> str:
    """Download wheels for ``requirements`` and pip itself, for the image; return pip's file name.

    The requirements are parsed again here (whatever path they came by) and pip is handed the
    normalised list as arguments, never a requirements file: it runs as a guest (see
    :mod:`sandbox.pip_guest`) and what it says reaches the user without host paths.
    """
    text = normalise(requirements)
    dest.mkdir(parents=True)
    (dest / "requirements.txt").write_text(text)  # for the install inside the build, which has no network
    machine = _machine()
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in _GLIBC_MINORS]
    platforms += [f"manylinux2014_{machine}", f"manylinux1_{machine}", f"linux_{machine}"]
    log(f"environment: fetching wheels for Python {python} on the host ...")
    with PipGuest.open() as guest:
        done = guest.pip([
            "download", "--disable-pip-version-check", "--no-cache-dir", "--progress-bar", "off",
            "--dest", str(guest.wheels), "--only-binary=:all:", "--implementation", "cp",
            "--python-version", python, *[arg for p in platforms for arg in ("--platform", p)],
            *text.splitlines(), f"pip=={PIP_VERSION}",
        ], timeout=FETCH_TIMEOUT_S)
        for line in done.stdout.splitlines():
            if line.startswith(("Collecting", "Saved", "Successfully")):
                log("  " + guest.scrub(line.strip()))
        if done.returncode != 0:
            raise EnvironmentBuildFailed(_pip_reason(guest.scrub(done.stderr or done.stdout)))
        wheels = guest.collect_wheels(dest)
    found = [name for name in wheels if name.startswith("pip-")]
    if not found:
        raise SandboxError("pip downloaded no pip wheel; cannot install the environment")
    return found[0]


def _pip_reason(output: str) -> str:
    missing = re.search(r"No matching distribution found for ([^\s]+)", output)
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR")]
    reason = "; ".join(lines[-2:]) or output.strip()[-500:]
    if missing:
        return (f"the package {missing.group(1)!r} could not be fetched for the sandbox ({reason}); "
                "check its name and version in the task's requirements")
    return f"the task's requirements could not be fetched: {reason}"


def _build(client: docker.DockerClient, env: Environment, base: str, wheels: Path, pip_wheel: str,
           log: Progress) -> None:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = DOCKERFILE.format(base=base, pip_wheel=pip_wheel).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(wheels, arcname="wheels")
    context.seek(0)
    labels = {ENV_LABEL: env.key, BASE_LABEL: base}
    with docker_errors("building the task's environment"):
        for event in client.api.build(fileobj=context, custom_context=True, tag=env.tag, labels=labels,
                                      rm=True, forcerm=True, network_mode="none", pull=False, decode=True):
            if event.get("stream", "").strip():
                log("  " + event["stream"].rstrip())
            if "error" in event:
                raise EnvironmentBuildFailed(f"installing the task's requirements failed: {event['error'].strip()}")


def image_python(client: docker.DockerClient, image: str, cache_dir: Path) -> str:
    """``major.minor`` of the image's python3 (asked once per image id, then read from disk)."""
    image_id = _image_id(client, image).replace(":", "-")
    cached = cache_dir / f"python-{image_id}.txt"
    if cached.is_file():
        return cached.read_text().strip()
    with docker_errors(f"asking {image} for its Python version"):
        out = client.containers.run(
            image, ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            network_mode="none", remove=True, user="65534:65534",
        )
    version = out.decode().strip()
    if not re.fullmatch(r"\d+\.\d+", version):
        raise SandboxError(f"{image} reports an unreadable Python version {version!r}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached.write_text(version)
    return version


def _image_id(client: docker.DockerClient, image: str) -> str:
    with docker_errors(f"inspecting image {image}"):
        return str(client.api.inspect_image(image)["Id"])


def _machine() -> str:
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine())


def _pull(client: docker.DockerClient, tag: str, log: Progress) -> bool:
    repository, _, version = tag.rpartition(":")
    log(f"environment: pulling {tag} from the registry ...")
    try:
        client.images.pull(repository, tag=version)
    except docker.errors.DockerException as exc:
        log(f"environment: not in the registry ({exc}); building it here")
        return False
    return True


def _push(client: docker.DockerClient, tag: str, log: Progress) -> None:
    repository, _, version = tag.rpartition(":")
    log(f"environment: pushing {tag} so that other hosts can pull it ...")
    with docker_errors(f"pushing {tag}"):
        for event in client.api.push(repository, tag=version, stream=True, decode=True):
            if "error" in event:
                raise SandboxError(f"pushing {tag} failed: {event['error']}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # flock locks open file descriptions: it holds between threads and between processes alike.
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
