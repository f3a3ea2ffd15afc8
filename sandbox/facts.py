"""What an image offers an experiment: its Python version and installed packages, asked once per image.

    facts = image_facts(client, "labloop-env:3f2a…", cache_dir=work_dir / "facts")
    facts.python                 # "3.11.2"
    facts.packages["numpy"]      # "1.24.2"

One short container (no network, an unprivileged user) lists the installed distributions from
their metadata; nothing of theirs is imported or run. The answer is kept on disk by image id,
so a job, its resumes and every later job on the same image ask only once. What the container
prints is treated as hostile: its size is bounded and every name and version must look like one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker

from sandbox.engine import docker_errors
from sandbox.errors import SandboxError

# Reads only metadata files (no package code runs); prints one JSON object.
_PROBE = (
    "import json, platform, importlib.metadata as m\n"
    "print(json.dumps({'python': platform.python_version(), 'packages': "
    "{d.metadata['Name']: d.version for d in m.distributions() if d.metadata['Name']}}))"
)
MAX_OUTPUT_BYTES = 512_000
MAX_PACKAGES = 2_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}$")


@dataclass(frozen=True)
class ImageFacts:
    """An image's Python version and its installed packages (canonical lower-case name → version)."""

    python: str
    packages: Mapping[str, str] = field(default_factory=dict)

    def version(self, name: str) -> str | None:
        """The installed version of package ``name`` (any spelling: ``scikit_learn``, ``Scikit-Learn``)."""
        return self.packages.get(canonical(name))


def canonical(name: str) -> str:
    """A package name as PyPI compares them (PEP 503: lower case, runs of ``-_.`` as one ``-``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_facts(raw: bytes) -> ImageFacts:
    """The facts from the probe's output; raise SandboxError when it is not what the probe prints."""
    if len(raw) > MAX_OUTPUT_BYTES:
        raise SandboxError(f"the image's package list is larger than {MAX_OUTPUT_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SandboxError(f"the image's package list is not JSON: {exc}") from exc
    python = data.get("python") if isinstance(data, dict) else None
    packages = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(python, str) or not _VERSION.fullmatch(python) or not isinstance(packages, dict):
        raise SandboxError("the image reports an unreadable Python version or package list")
    kept = {canonical(name): version for name, version in list(packages.items())[:MAX_PACKAGES]
            if isinstance(name, str) and isinstance(version, str)
            and _NAME.fullmatch(name) and _VERSION.fullmatch(version)}
    return ImageFacts(python=python, packages=dict(sorted(kept.items())))


def image_facts(client: docker.DockerClient, image: str, cache_dir: Path) -> ImageFacts:
    """The facts of ``image`` (asked once per image id, then read from disk)."""
    with docker_errors(f"inspecting image {image}"):
        image_id = str(client.api.inspect_image(image)["Id"]).replace(":", "-")
    cached = cache_dir / f"facts-{image_id}.json"
    if cached.is_file():
        return parse_facts(cached.read_bytes())
    with docker_errors(f"asking {image} for its packages"):
        raw = client.containers.run(image, ["python3", "-c", _PROBE], network_mode="none", remove=True,
                                    user="65534:65534", mem_limit="256m", pids_limit=64)
    facts = parse_facts(raw)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps({"python": facts.python, "packages": dict(facts.packages)}), encoding="utf-8")
    tmp.replace(cached)
    return facts
