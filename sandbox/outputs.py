"""Outputs back from a stopped container: metrics.json parsed, every other file an artifact.

Everything under ``$LABLOOP_OUTPUT`` was written by the experiment and is hostile input. The
runner reads it only once the container has stopped (nothing can change it any more), and
reads it here without ever resolving a path: every file and folder is opened by one name
relative to its parent folder's descriptor, with ``O_NOFOLLOW``, so no symbolic link is
followed at *any* component and nothing is read outside the output root (``openat2`` with
``RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`` would add nothing to a walk that never resolves a
path of more than one name). Only regular files are read (checked with ``fstat`` on the open
descriptor); links, FIFOs, devices, sockets, bad names, files past the count or depth limits
are skipped and named in the notes. Nothing is copied when the total passes the cap.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.metrics import METRICS_FILE, METRICS_MAX_BYTES, parse_metrics
from sandbox.result import Artifact

__all__ = ["METRICS_FILE", "METRICS_MAX_BYTES", "Outputs", "collect", "name_problem", "parse_metrics"]

MAX_ARTIFACTS = 5000
MAX_DEPTH = 32
MAX_NOTES = 20
_CHUNK = 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


@dataclass
class Outputs:
    """What an experiment left under $LABLOOP_OUTPUT."""

    metrics: dict[str, float] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)
    error: str | None = None  # why the outputs make the run a failure, in words
    notes: list[str] = field(default_factory=list)  # what was skipped, and why


class _Notes:
    """At most MAX_NOTES notes, then a count of the rest."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0

    def add(self, note: str) -> None:
        if len(self.items) < MAX_NOTES:
            self.items.append(note)
        else:
            self.dropped += 1

    def done(self) -> list[str]:
        extra = [f"... and {self.dropped} more skipped entries"] if self.dropped else []
        return self.items + extra


def name_problem(name: str) -> str | None:
    """Why ``name`` (one path component, as os.scandir gives it) cannot be an artifact name."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "contains control characters"
    return None


@dataclass(frozen=True)
class _Entry:
    parent_fd: int
    name: str
    rel: str
    size: int


def _walk(dir_fd: int, prefix: str, depth: int, notes: _Notes) -> Iterator[_Entry]:
    # Names come from readdir: one component each, never "." or "..", never containing "/".
    with os.scandir(dir_fd) as entries:
        listing = sorted(entries, key=lambda e: e.name)
    for entry in listing:
        rel = f"{prefix}{entry.name}"
        shown = ascii(rel)
        problem = name_problem(entry.name)
        if problem is not None:
            notes.add(f"skipped {shown}: its name {problem}")
            continue
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            if depth >= MAX_DEPTH:
                notes.add(f"skipped {shown}: folders nested deeper than {MAX_DEPTH} levels")
                continue
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                notes.add(f"skipped {shown}: cannot open the folder ({exc.strerror})")
                continue
            with closing(_Fd(child)):
                yield from _walk(child, f"{rel}/", depth + 1, notes)
        elif stat.S_ISREG(info.st_mode):
            yield _Entry(dir_fd, entry.name, rel, info.st_size)
        else:
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            notes.add(f"skipped {shown}: it is {kind}")


class _Fd:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


def _open_regular(entry: _Entry) -> int | None:
    try:
        fd = os.open(entry.name, _FILE_FLAGS, dir_fd=entry.parent_fd)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _read_capped(fd: int, cap: int) -> bytes:
    data = bytearray()
    while len(data) <= cap and (chunk := os.read(fd, min(_CHUNK, cap + 1 - len(data)))):
        data += chunk
    return bytes(data)


def _copy_hashed(fd: int, target: Path, size: int) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    left = size  # never more than the size counted against the cap
    with os.fdopen(out, "wb") as dst:
        while left > 0 and (chunk := os.read(fd, min(_CHUNK, left))):
            digest.update(chunk)
            dst.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def collect(output: Path, dest: Path, *, metric: str | None, cap_bytes: int) -> Outputs:
    """Parse metrics and copy artifacts (with size and sha256) from ``output`` to ``dest``.

    ``output`` must belong to a stopped container: the walk trusts nothing in it, but it
    assumes nothing changes it meanwhile (it is walked twice: to count, then to copy).
    """
    notes = _Notes()
    try:
        root = os.open(output, _DIR_FLAGS)
    except OSError as exc:
        return Outputs(error=f"$LABLOOP_OUTPUT could not be read ({exc.strerror}); was it replaced?")
    with closing(_Fd(root)):
        sizes: list[int] = []
        metrics_bytes = None
        for entry in _walk(root, "", 0, notes):
            sizes.append(entry.size)
            if entry.rel == METRICS_FILE and (fd := _open_regular(entry)) is not None:
                with closing(_Fd(fd)):
                    metrics_bytes = _read_capped(fd, METRICS_MAX_BYTES)
        metrics, error = parse_metrics(metrics_bytes, metric)
        if len(sizes) > MAX_ARTIFACTS:
            notes.add(f"only the first {MAX_ARTIFACTS} of {len(sizes)} files were copied")
        total = sum(sizes[:MAX_ARTIFACTS])
        if total > cap_bytes:
            return Outputs(
                metrics=metrics,
                notes=notes.done(),
                error=(
                    f"the experiment wrote {total} bytes under $LABLOOP_OUTPUT, over the cap of "
                    f"{cap_bytes} bytes; no artifact was copied"
                ),
            )
        dest.mkdir(parents=True, exist_ok=True)
        artifacts = []
        for entry in itertools.islice(_walk(root, "", 0, _Notes()), MAX_ARTIFACTS):
            fd = _open_regular(entry)
            if fd is None:
                continue
            with closing(_Fd(fd)):
                sha = _copy_hashed(fd, dest / entry.rel, entry.size)
            if entry.rel != METRICS_FILE:
                artifacts.append(Artifact(path=entry.rel, size=entry.size, sha256=sha))
    return Outputs(metrics=metrics, artifacts=artifacts, error=error, notes=notes.done())
