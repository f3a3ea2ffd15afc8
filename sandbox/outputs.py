"""Outputs back from the slot: metrics.json parsed, every other file an artifact.

Only regular files are read, never through a symbolic link (a link the experiment made would
otherwise point into the *host's* filesystem). The total is checked against the cap before
anything is copied.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.result import Artifact

METRICS_FILE = "metrics.json"
METRICS_MAX_BYTES = 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass
class Outputs:
    """What an experiment left under $LABLOOP_OUTPUT."""

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    error: str | None = None  # why the outputs make the run a failure, in words


def _regular_files(root: Path) -> list[tuple[str, int]]:
    found = []
    for folder, _dirs, files in os.walk(root):  # os.walk does not follow links to folders
        for name in files:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                found.append((path.relative_to(root).as_posix(), info.st_size))
    return sorted(found)


def _copy_hashed(source: Path, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src, target.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
    return digest.hexdigest()


def _read_metrics(path: Path, metric: str | None) -> tuple[dict[str, float], str | None]:
    where = f"$LABLOOP_OUTPUT/{METRICS_FILE}"
    if not path.is_file() or path.is_symlink():
        return {}, f"no {METRICS_FILE}: the experiment must write a flat JSON object of numbers to {where}"
    if path.stat().st_size > METRICS_MAX_BYTES:
        return {}, f"{where} is larger than {METRICS_MAX_BYTES} bytes; write only the numbers"
    try:
        raw = json.loads(path.read_bytes())
    except ValueError as exc:
        return {}, f"{where} is not valid JSON: {exc}"
    if not isinstance(raw, dict):
        return {}, f"{where} must be a JSON object of numbers, got {type(raw).__name__}"
    metrics: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            return {}, f"{where}: '{key}' is {value!r}, not a number (the object must be flat)"
        metrics[key] = float(value)
    if metric is not None and metric not in metrics:
        have = ", ".join(sorted(metrics)) or "nothing"
        return metrics, f"{where} has no '{metric}' (the task's metric); it has: {have}"
    if metric is not None and not math.isfinite(metrics[metric]):
        return metrics, f"{where}: the metric '{metric}' is {metrics[metric]}, not a finite number"
    return metrics, None


def collect(output: Path, dest: Path, *, metric: str | None, cap_bytes: int) -> Outputs:
    """Parse metrics and copy artifacts (with size and sha256) from ``output`` to ``dest``."""
    metrics, error = _read_metrics(output / METRICS_FILE, metric)
    files = _regular_files(output)
    total = sum(size for _, size in files)
    if total > cap_bytes:
        return Outputs(
            metrics=metrics,
            error=(
                f"the experiment wrote {total} bytes under $LABLOOP_OUTPUT, over the cap of "
                f"{cap_bytes} bytes; no artifact was copied"
            ),
        )
    dest.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for rel, size in files:
        sha = _copy_hashed(output / rel, dest / rel)
        if rel != METRICS_FILE:
            artifacts.append(Artifact(path=rel, size=size, sha256=sha))
    return Outputs(metrics=metrics, artifacts=artifacts, error=error)
