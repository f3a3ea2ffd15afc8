"""Code changes proposed by a model, applied to a workspace's files, and tracebacks read back.

A change is whole files or search/replace blocks (an exact ``search`` text replaced once).
A block whose search text is missing is an error the model is told about and may fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from agents.workspace_paths import model_path


class FileContent(BaseModel):
    """A whole new file (or a full replacement of one)."""

    path: str
    content: str


class SearchReplace(BaseModel):
    """Replace the first exact occurrence of ``search`` in ``path`` with ``replace``."""

    path: str
    search: str = Field(min_length=1)
    replace: str


class CodeChange(BaseModel):
    """A model's proposed change to the experiment: files, edits and/or params."""

    explanation: str = ""
    files: list[FileContent] = Field(default_factory=list)
    edits: list[SearchReplace] = Field(default_factory=list)
    params: dict[str, object] | None = None


def _safe(path: str) -> str:
    return model_path(path)


def apply_change(
    originals: Mapping[str, str], changed: Mapping[str, str], change: CodeChange
) -> dict[str, str]:
    """Apply ``change`` on top of ``changed`` (earlier edits) over ``originals``; return changed files.

    Raises ValueError with a message the model can act on when an edit does not apply.
    """
    result = dict(changed)
    for item in change.files:
        result[_safe(item.path)] = item.content
    for edit in change.edits:
        rel = _safe(edit.path)
        current = result.get(rel, originals.get(rel))
        if current is None:
            raise ValueError(f"edit for {rel!r}: no such file; known files: {sorted(originals)}")
        if edit.search not in current:
            raise ValueError(
                f"edit for {rel!r}: the search text was not found verbatim; copy it exactly "
                f"from the current file. Search text was:\n{edit.search}"
            )
        result[rel] = current.replace(edit.search, edit.replace, 1)
    return {rel: text for rel, text in result.items() if originals.get(rel) != text}


_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')


def traceback_sources(
    traceback: str, files: Mapping[str, str], *, context: int = 3, limit: int = 4
) -> str:
    """The source lines each traceback frame in the workspace points at, marked with ``>>``."""
    blocks: list[str] = []
    for match in _FRAME.finditer(traceback):
        rel = _resolve(match["path"], files)
        if rel is None:
            continue
        lines = files[rel].splitlines()
        number = int(match["line"])
        lo, hi = max(1, number - context), min(len(lines), number + context)
        shown = [
            f"{'>>' if n == number else '  '} {n:4d} | {lines[n - 1]}" for n in range(lo, hi + 1)
        ]
        block = f"{rel}, line {number}:\n" + "\n".join(shown)
        if block not in blocks:
            blocks.append(block)
    return "\n\n".join(blocks[-limit:])


def _resolve(path: str, files: Mapping[str, str]) -> str | None:
    parts = PurePosixPath(path).parts
    for i in range(len(parts)):
        candidate = PurePosixPath(*parts[i:]).as_posix()
        if candidate in files:
            return candidate
    return None
