"""How a prompt shows the task's files: what each file is decides how much of it the model reads.

* **editable** — the experiment's own scripts (named in the entrypoint) and every file the node
  changed: always whole, first. An edit's search text must match the file exactly, so these
  are never cut while they fit the model's context at all.
* **code** — other source and small configuration: whole while the allowance lasts, then cut on
  line boundaries with a marker that says what was left out.
* **description** — prose over a few KB (a data description, a README): its first
  :data:`DESCRIPTION_LINES` lines and a pointer: the experiment can read the whole file.
* **data** — tables, JSON data, large text and binary files: size, line count, columns, and
  the header with the first :data:`DATA_ROWS` rows (never more than :data:`MAX_ROWS` lines).
* **settings** — ``task.yaml`` (a template's ``labloop.yaml``): never repeated; the system prompt
  states the job's own limits and budget, which may differ from the file's.
"""

from __future__ import annotations

import csv
import io
import shlex
from collections.abc import Collection
from pathlib import PurePosixPath
from typing import Literal

from agents.experiments import DataFile

FileKind = Literal["editable", "code", "description", "data", "settings"]

SMALL_BYTES = 4_000  # prose or JSON up to this size is shown like code
DESCRIPTION_LINES = 60
DATA_ROWS = 5
MAX_ROWS = 20  # the most lines of a data file any prompt shows (header included)
LINE_CHARS = 300  # a longer line of a summary is cut (a table row with thousands of columns)
MAX_COLUMNS = 60
SETTINGS_FILES = frozenset({"task.yaml", "labloop.yaml"})
DATA_SUFFIXES = frozenset({
    ".csv", ".tsv", ".parquet", ".feather", ".arrow", ".jsonl", ".ndjson", ".npy", ".npz", ".pkl",
    ".pickle", ".h5", ".hdf5", ".xlsx", ".xls", ".zip", ".gz", ".bz2", ".xz", ".dat", ".data",
})
PROSE_SUFFIXES = frozenset({".md", ".txt", ".rst"})
_DESCRIPTION_WORDS = ("desc", "readme", "about", "info", "notes", "instruction", "overview")


def editable_files(entrypoint: str, task_files: Collection[str], changed: Collection[str]) -> set[str]:
    """The files a code step is expected to edit: scripts the entrypoint names, and the node's changed files."""
    try:
        words = shlex.split(entrypoint)
    except ValueError:
        words = entrypoint.split()
    named = {w.removeprefix("./") for w in words} & set(task_files)
    return named | set(changed)


def kind_of(rel: str, size: int, *, editable: Collection[str], text: bool) -> FileKind:
    """What ``rel`` is to a prompt (see the module docstring)."""
    path = PurePosixPath(rel)
    suffix = path.suffix.lower()
    if rel in editable:
        return "editable"
    if rel in SETTINGS_FILES:
        return "settings"
    if not text or suffix in DATA_SUFFIXES:
        return "data"
    if size <= SMALL_BYTES or suffix not in PROSE_SUFFIXES | {".json"}:
        return "code"
    if suffix == ".json":
        return "data"
    if suffix in {".md", ".rst"} or any(w in path.stem.lower() for w in _DESCRIPTION_WORDS):
        return "description"
    return "data"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    scaled, unit = n / 1024, "KB"
    for bigger in ("MB", "GB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit}"


def _line(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS] + f" [… {len(text) - LINE_CHARS} characters cut]"


def _lines_of(file: DataFile) -> str:
    return f"{file.lines} lines" if file.lines is not None else "lines not counted"


def description_summary(rel: str, file: DataFile) -> str:
    """The head of a description file and where the experiment finds the rest."""
    lines = file.head.splitlines()
    shown = [_line(x) for x in lines[:DESCRIPTION_LINES]]
    total = file.lines if file.lines is not None else len(lines)
    more = max(total - len(shown), 0)
    header = (f"--- {rel} (description, {_size(file.size)}, {_lines_of(file)}; the first {len(shown)} lines; "
              f"the experiment can read the whole file at {rel!r}) ---")
    marker = [f"[… {more} more lines of {rel} not shown: open {rel!r} from the experiment if it needs them …]"] if more else []
    return "\n".join([header, *shown, *marker])


def data_summary(rel: str, file: DataFile) -> str:
    """Size, line count, columns and a few rows of a data file; the experiment reads the rest."""
    where = f"the experiment reads it from {rel!r}"
    if file.binary:
        return f"--- {rel} (data, binary, {_size(file.size)}; {where}) ---"
    lines = file.head.splitlines()
    if file.size > len(file.head.encode("utf-8", errors="replace")) and lines:
        lines = lines[:-1]  # the head's last line may be cut in the middle of a row
    suffix = PurePosixPath(rel).suffix.lower()
    body: list[str] = []
    if suffix in {".csv", ".tsv"} and lines:
        delimiter = "\t" if suffix == ".tsv" else ","
        try:
            columns = next(csv.reader(io.StringIO(lines[0]), delimiter=delimiter))
        except (csv.Error, StopIteration):
            columns = []
        if columns:
            named = ", ".join(c[:40] for c in columns[:MAX_COLUMNS])
            body.append(f"columns ({len(columns)}): {named}" + (" …" if len(columns) > MAX_COLUMNS else ""))
        shown = lines[: 1 + DATA_ROWS]
        what = f"the header and the first {len(shown) - 1} rows"
    else:
        shown = lines[:DATA_ROWS]
        what = f"the first {len(shown)} lines"
    body += [_line(x) for x in shown[:MAX_ROWS]]
    return "\n".join([f"--- {rel} (data, {_size(file.size)}, {_lines_of(file)}; {what}; {where}) ---", *body])
