"""The server's ceiling on what a task may ask of the sandbox.

A task's ``sandbox:`` section is written by whoever uploads the task; the operator's policy
(``LABLOOP_SANDBOX_*`` settings, wired by ``services``) bounds it. ``DockerSandbox`` checks
every run against it, so no path (CLI, API, schedules, workers) can get around it; services
also check a task when a job is created, so a refusal comes before the baseline, not during it.

    policy = SandboxPolicy(max_memory="4g", allow_network=False)
    policy.check(limits)        # raises PolicyViolation naming each setting that refuses
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.errors import InvalidInput, PolicyViolation
from sandbox.result import Limits

_SIZE = re.compile(r"^(\d+)([kmg]?)b?$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """Bytes in a Docker-style size ("512m", "2g", "1048576")."""
    found = _SIZE.match(text.strip())
    if found is None:
        raise InvalidInput(f"{text!r} is not a size; write a number with k, m or g (e.g. 512m)")
    return int(found.group(1)) * _UNITS[found.group(2).lower()]


@dataclass(frozen=True)
class SandboxPolicy:
    """What the operator allows a task's experiments, whatever its task.yaml says."""

    allowed_images: tuple[str, ...] = ()
    """Images allowed besides the sandbox image and images built FROM it."""
    max_cpus: float = 4.0
    max_memory: str = "8g"
    max_pids: int = 4096
    max_timeout_s: float = 24 * 3600
    max_disk: str = "4g"
    max_gpus: int = 0
    allow_network: bool = False

    def violations(self, limits: Limits) -> list[str]:
        """Each way ``limits`` break this policy, naming the setting that would allow it."""
        found = []
        gpus = limits.gpus
        if limits.network != "none" and not self.allow_network:
            found.append(
                f"network '{limits.network}' is off on this server (LABLOOP_SANDBOX_ALLOW_NETWORK); "
                "use network: none or ask the operator"
            )
        checks = [
            ("cpus", limits.cpus, self.max_cpus, "LABLOOP_SANDBOX_MAX_CPUS", f"{self.max_cpus:g}"),
            ("memory", parse_size(limits.memory), parse_size(self.max_memory),
             "LABLOOP_SANDBOX_MAX_MEMORY", self.max_memory),
            ("pids", limits.pids, self.max_pids, "LABLOOP_SANDBOX_MAX_PIDS", str(self.max_pids)),
            ("timeout", limits.timeout_s, self.max_timeout_s, "LABLOOP_SANDBOX_MAX_TIMEOUT_S",
             f"{self.max_timeout_s:g} s"),
            ("disk", limits.disk_bytes, parse_size(self.max_disk), "LABLOOP_SANDBOX_MAX_DISK", self.max_disk),
            ("gpus", float("inf") if gpus < 0 else gpus, self.max_gpus, "LABLOOP_SANDBOX_MAX_GPUS",
             str(self.max_gpus)),
        ]
        for name, asked, ceiling, setting, shown in checks:
            if asked > ceiling:
                amount = "all" if asked == float("inf") else f"{asked:g}"
                found.append(f"{name} {amount} is over this server's ceiling of {shown} ({setting})")
        return found

    def check(self, limits: Limits) -> None:
        """Raise PolicyViolation, naming every setting that refuses, unless ``limits`` fit."""
        found = self.violations(limits)
        if found:
            raise PolicyViolation("the task's sandbox asks for more than this server allows: " + "; ".join(found))

    def image_allowed_by_name(self, image: str, sandbox_image: str) -> bool:
        """True when ``image`` is the sandbox image or listed in LABLOOP_SANDBOX_ALLOWED_IMAGES."""
        return image == sandbox_image or image in self.allowed_images
