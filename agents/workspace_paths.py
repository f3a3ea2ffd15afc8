"""Where a model's code change may write: relative paths the workspace's file system can hold.

A path in a model's reply is hostile input. Before anything is written, it must be relative
(no leading ``/``, no ``..``), hold no NUL or other control character, fit the file system's
limits (255 bytes a name, 1024 a path), never go through a link of the task folder, and never
use a file as a folder or a folder as a file — in the task folder or among the change's own
files. Every refusal is a ``ValueError`` whose message names the path and what to do, so the
model is told and may try again; the job goes on.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 1024
"""Below the system's 4096: the workspace's own absolute path comes in front of it."""


def model_path(path: str) -> str:
    """``path`` as the workspace-relative POSIX path it names; ValueError saying why it cannot be written."""
    shown = ascii(path[:120]) + ("..." if len(path) > 120 else "")
    text = path.strip()
    if "\x00" in text:
        raise ValueError(f"path {shown} contains a NUL byte; use a plain relative path such as 'src/model.py'")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise ValueError(f"path {shown} contains control characters; use a plain relative path")
    if len(text.encode("utf-8", "surrogatepass")) > PATH_MAX_BYTES:
        raise ValueError(f"path {shown} is longer than {PATH_MAX_BYTES} bytes; use a short relative path")
    rel = PurePosixPath(text[2:] if text.startswith("./") else text)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"path {shown} must be relative to the workspace, without '..'")
    for part in rel.parts:
        if len(part.encode("utf-8")) > NAME_MAX_BYTES:
            raise ValueError(f"path {shown} has a name longer than {NAME_MAX_BYTES} bytes; use shorter names")
    return rel.as_posix()


def check_layout(paths: Iterable[str], task_dir: Path) -> None:
    """Raise ValueError when a path (already through :func:`model_path`) cannot be a file of the workspace.

    The workspace is a copy of ``task_dir`` plus the change, so a path clashes when the task
    folder (or another path of the change) has a file where it needs a folder, a folder where
    it needs a file, or a link anywhere on its way.
    """
    wanted = sorted(set(paths))
    files = set(wanted)
    for rel in wanted:
        try:
            _check_one(rel, files, task_dir)
        except OSError as exc:
            raise ValueError(f"path {rel!r} cannot be a file of the workspace ({exc.strerror}); "
                             "use a short plain relative path") from exc


def _check_one(rel: str, files: set[str], task_dir: Path) -> None:
    parts = PurePosixPath(rel).parts
    for depth in range(1, len(parts) + 1):
        prefix = PurePosixPath(*parts[:depth]).as_posix()
        on_disk = task_dir / prefix
        last = depth == len(parts)
        if on_disk.is_symlink():
            raise ValueError(f"path {rel!r} goes through the link {prefix!r} of the task folder; "
                             "write to a regular path instead")
        if not last and (prefix in files or (on_disk.exists() and not on_disk.is_dir())):
            raise ValueError(f"path {rel!r} uses the file {prefix!r} as a folder; choose another path")
        if last and on_disk.is_dir():
            raise ValueError(f"path {rel!r} is a folder of the task, not a file; name a file inside it")


def workspace_problem(files: Iterable[str], task_dir: Path) -> str | None:
    """Why the workspace cannot hold files at these paths (a model's or a human's edit), or None."""
    try:
        check_layout([model_path(rel) for rel in files], task_dir)
    except ValueError as exc:
        return f"the change cannot be written: {exc}"
    return None
