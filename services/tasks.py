"""Uploading tasks: files by relative path or a tar.gz, validated, stored as home/tasks/NAME/vN.

Every path is checked before anything is written: relative, no ``..``, no drive or backslash,
no control characters, and the resolved target must stay inside the version folder; so is the
task's requirements file (UTF-8; package names, versions, extras and markers only: see
:mod:`sandbox.requirements`). A tarball is read member by member (regular files and folders
only: no links, devices or fifos), with limits on the total size and the number of files.

Python's ``tarfile`` reads a PAX or GNU long-name header whole, so a small tar.gz whose header
claims a gigabyte of metadata would be held in memory before any check could refuse it. A first
pass therefore walks the decompressed stream header by header, 64 KiB at a time, skipping
member data without keeping it, and refuses metadata over ``MAX_META_BYTES`` and a stream that
expands past the size limit; only then does ``tarfile`` read it.
"""

from __future__ import annotations

import io
import re
import shutil
import tarfile
import uuid
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from sqlalchemy.exc import IntegrityError

from agents.errors import InvalidInput, InvalidTask
from agents.protected import hidden_files, under
from agents.task import TASK_FILE, declared_requirements, parse_task, template_task
from agents.template import has_template_files
from services.store.db import Store
from services.store.models import TaskRow
from services.store.tasks import add_task_version, next_task_version

MAX_FILES = 500
MAX_META_BYTES = 64 * 1024
"""The largest PAX or GNU long-name header an upload may carry."""
_BLOCK = 512
_CHUNK = 64 * 1024
_META_KINDS = {b"x": "a PAX header", b"g": "a PAX header", b"L": "a long name", b"K": "a long link name"}
_PAX_SIZE = re.compile(rb"(?:^|\n)\d+ size=(\d+)\n")


def clean_relative_path(raw: str) -> PurePosixPath:
    """``raw`` as a safe relative path, or InvalidInput naming what is wrong with it."""
    if not raw or len(raw) > 255:
        raise InvalidInput(f"file path {raw!r} must have 1 to 255 characters")
    if "\\" in raw or any(ord(ch) < 32 for ch in raw) or ":" in raw:
        raise InvalidInput(f"file path {raw!r} may not contain backslashes, colons or control characters")
    path = PurePosixPath(raw)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or not path.parts:
        raise InvalidInput(f"file path {raw!r} must be relative and stay inside the task folder")
    if path.parts[0] == ".":
        path = PurePosixPath(*path.parts[1:]) if len(path.parts) > 1 else path
    if path == PurePosixPath("."):
        raise InvalidInput(f"file path {raw!r} names no file")
    return path


class _Inflated:
    """The decompressed bytes of a gzip stream, read in bounded steps up to ``limit`` in all."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._pending = data
        self._buffer = b""
        self._limit = limit
        self._total = 0

    def _more(self) -> bool:
        if self._inflate.eof or (not self._pending and not self._inflate.unconsumed_tail):
            return False
        source = self._inflate.unconsumed_tail or self._pending
        self._pending = b""
        chunk = self._inflate.decompress(source, _CHUNK)
        self._total += len(chunk)
        if self._total > self._limit:
            raise InvalidInput(
                f"the upload expands to more than {self._limit} bytes; at most that much is accepted"
            )
        self._buffer += chunk
        return True

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes (fewer only at the end of the stream)."""
        while len(self._buffer) < size and self._more():
            pass
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def skip(self, size: int) -> None:
        """Pass over ``size`` bytes without keeping them."""
        while size > 0:
            if not self._buffer and not self._more():
                return
            step = min(size, len(self._buffer))
            self._buffer = self._buffer[step:]
            size -= step


def _header_size(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip()
    return int(digits, 8) if digits else 0


def check_tar_headers(data: bytes, *, max_bytes: int) -> None:
    """Walk a tar.gz's headers without holding any member; refuse oversized metadata early."""
    stream = _Inflated(data, limit=max_bytes + (4 * MAX_FILES + 2) * 3 * _BLOCK)
    next_size: int | None = None
    try:
        while len(header := stream.read(_BLOCK)) == _BLOCK and header.strip(b"\0"):
            size = _header_size(header[124:136])
            kind = header[156:157]
            if kind in _META_KINDS:
                if size > MAX_META_BYTES:
                    raise InvalidInput(
                        f"the tarball has {_META_KINDS[kind]} of {size} bytes; at most "
                        f"{MAX_META_BYTES} are accepted (make the archive with plain `tar czf`)"
                    )
                meta = stream.read(size)
                stream.skip(-size % _BLOCK)
                found = _PAX_SIZE.findall(meta) if kind == b"x" else []
                next_size = int(found[-1]) if found else None
                continue
            size, next_size = (size if next_size is None else next_size), None
            stream.skip(size + (-size % _BLOCK))
    except (ValueError, zlib.error) as exc:
        raise InvalidInput(f"the upload is not a readable tar.gz archive ({exc}); make one with `tar czf`") from exc


def read_tarball(data: bytes, *, max_bytes: int) -> dict[str, bytes]:
    """The regular files of a tar.gz upload by relative path; InvalidInput for anything unsafe."""
    check_tar_headers(data, max_bytes=max_bytes)
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for seen, member in enumerate(archive):
                if seen >= 4 * MAX_FILES:
                    raise InvalidInput(f"the tarball has too many entries; at most {MAX_FILES} files")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise InvalidInput(f"tarball member {member.name!r} is a link or device; only files are accepted")
                path = clean_relative_path(member.name)
                total += member.size
                if total > max_bytes or len(files) >= MAX_FILES:
                    raise InvalidInput(f"the upload is too large: at most {max_bytes} bytes in {MAX_FILES} files")
                handle = archive.extractfile(member)
                files[str(path)] = handle.read() if handle is not None else b""
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInput(f"the upload is not a readable tar.gz archive ({exc}); make one with `tar czf`") from exc
    return _strip_common_folder(files)


def _strip_common_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    # `tar czf t.tgz digits/` nests everything in one folder; the task file is then one level down.
    if TASK_FILE in files or not files:
        return files
    tops = {PurePosixPath(path).parts[0] for path in files}
    if len(tops) == 1 and all(len(PurePosixPath(p).parts) > 1 for p in files):
        return {str(PurePosixPath(*PurePosixPath(p).parts[1:])): body for p, body in files.items()}
    return files


def save_task(
    store: Store, *, tasks_dir: Path, files: Mapping[str, str | bytes], max_bytes: int
) -> TaskRow:
    """Validate an uploaded task folder and store it as the next version of its task."""
    if not files:
        raise InvalidInput("the upload has no files; send at least task.yaml")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"too many files ({len(files)}); at most {MAX_FILES}")
    blobs = {str(clean_relative_path(p)): _bytes(p, b) for p, b in files.items()}
    if sum(len(b) for b in blobs.values()) > max_bytes:
        raise InvalidInput(f"the upload is too large: at most {max_bytes} bytes")
    if TASK_FILE in blobs:
        task = parse_task(_text(blobs, TASK_FILE) or "")
    elif has_template_files(blobs):  # an AI Scientist template: its metric comes with each job
        task = template_task(lambda rel: _text(blobs, rel), default_name=None, source="the uploaded template")
    else:
        raise InvalidTask(f"the upload has no {TASK_FILE} at its top level; every task needs one (or, for an AI "
                          "Scientist template, experiment.py and prompt.json)")
    # Names, versions and markers only, checked before anything is stored (and again at every
    # job's creation and before pip runs).
    declared_requirements(task.environment, blobs.get)
    staging = tasks_dir / task.name / f".upload-{uuid.uuid4().hex[:8]}"
    try:
        _write(staging, blobs)
        task.check_paths(staging)  # evaluation.files and protect name files of this upload
        for _attempt in range(5):
            version = next_task_version(store, task.name)
            target = tasks_dir / task.name / f"v{version}"
            try:
                row = add_task_version(
                    store, name=task.name, version=version, path=str(target.resolve()),
                    spec=task.model_dump(mode="json"),
                )
            except IntegrityError:
                continue  # a concurrent upload took this version; take the next one
            staging.rename(target)
            return row
        raise InvalidInput(f"too many concurrent uploads of task {task.name!r}; try again")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _bytes(relative: str, body: str | bytes) -> bytes:
    if isinstance(body, bytes):
        return body
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as exc:  # JSON can carry lone surrogates ("\udcff"), which UTF-8 cannot
        raise InvalidInput(f"{relative} is not valid text (a lone surrogate at offset {exc.start}); "
                           "send the file as UTF-8") from exc


def _text(blobs: Mapping[str, bytes], rel: str) -> str | None:
    if rel not in blobs:
        return None
    try:
        return blobs[rel].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTask(f"{rel} is not UTF-8 text") from exc


def _write(root: Path, blobs: Mapping[str, bytes]) -> None:
    root.mkdir(parents=True)
    base = root.resolve()
    for relative, body in blobs.items():
        target = (base / relative).resolve()
        if not target.is_relative_to(base):
            raise InvalidInput(f"file path {relative!r} leaves the task folder")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise InvalidInput(f"file path {relative!r} clashes with another uploaded path") from exc


def task_file_list(row: TaskRow) -> list[str]:
    """The relative paths of the files stored for one task version, but the grader's (which only it sees)."""
    root = Path(row.path)
    if not root.is_dir():
        return []
    hidden = hidden_files(root)
    return sorted(rel for p in root.rglob("*") if p.is_file()
                  and not under(rel := p.relative_to(root).as_posix(), hidden))
