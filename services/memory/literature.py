"""Literature the user adds (notes, papers): read, chunk and store in ``literature``.

Markdown and text files are split into passages at blank lines; PDFs are read page by page
with pypdf. Every passage keeps ``source`` (the file name), ``source_path``, ``page`` (PDFs)
or ``line`` (text files) so the report can cite it. Ids are deterministic and a file added
again replaces its earlier passages.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.errors import InvalidInput
from services.memory.store import ChromaMemory

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".rst"})
SUFFIXES = TEXT_SUFFIXES | {".pdf"}
MAX_CHARS = 1000


@dataclass(frozen=True)
class Passage:
    """One chunk of a document with where it came from."""

    text: str
    page: int | None = None
    line: int | None = None


@dataclass(frozen=True)
class IngestedSource:
    """What ingesting one file produced."""

    source: str
    path: str
    pages: int
    passages: int


def _split_long(text: str, max_chars: int) -> Iterator[str]:
    """Split one over-long paragraph at sentence ends, else at spaces."""
    sentences = re.split(r"(?<=[.!?])\s+", text)
    current = ""
    for sentence in sentences:
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if current:
                yield current
                current = ""
            yield sentence[:cut]
            sentence = sentence[cut:].lstrip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            yield current
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        yield current


def chunk_text(text: str, *, max_chars: int = MAX_CHARS) -> list[tuple[int, str]]:
    """Passages of at most ``max_chars``, packed from paragraphs, with their first line number."""
    paragraphs: list[tuple[int, str]] = []
    start, lines = 1, list[str]()
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not lines:
                start = line_no
            lines.append(line.strip())
        elif lines:
            paragraphs.append((start, " ".join(lines)))
            lines = []
    if lines:
        paragraphs.append((start, " ".join(lines)))
    chunks: list[tuple[int, str]] = []
    current_line, current = 0, ""
    for first_line, paragraph in paragraphs:
        pieces = [paragraph] if len(paragraph) <= max_chars else list(_split_long(paragraph, max_chars))
        for piece in pieces:
            if current and len(current) + 2 + len(piece) > max_chars:
                chunks.append((current_line, current))
                current = ""
            if not current:
                current_line = first_line
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append((current_line, current))
    return chunks


def read_passages(path: Path, *, max_chars: int = MAX_CHARS) -> tuple[int, list[Passage]]:
    """(number of pages, passages) of one supported file; InvalidInput when unreadable."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _pdf_passages(path, max_chars)
    if suffix not in TEXT_SUFFIXES:
        raise InvalidInput(f"{path}: unsupported file type {suffix or '(none)'}; add .md, .txt or .pdf files")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc
    return 1, [Passage(chunk, line=line) for line, chunk in chunk_text(text, max_chars=max_chars)]


def _pdf_passages(path: Path, max_chars: int) -> tuple[int, list[Passage]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise InvalidInput(f"{path} is an encrypted PDF; decrypt it first (e.g. qpdf --decrypt)")
        passages = [
            Passage(chunk, page=number)
            for number, page in enumerate(reader.pages, start=1)
            for _, chunk in chunk_text(page.extract_text() or "", max_chars=max_chars)
        ]
        return len(reader.pages), passages
    except (PdfReadError, OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the PDF {path}: {exc}") from exc


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """The supported files among ``paths`` (folders are searched recursively)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput(f"{path} does not exist; give files or folders of .md, .txt or .pdf")
    return files


def literature_records(
    path: Path, passages: Sequence[Passage], *, task: str | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """Records for ``literature``: ids ``lit:<path hash>:<n>``, source/page/line metadata."""
    resolved = str(path.resolve())
    key = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:12]
    records = []
    for number, passage in enumerate(passages):
        meta: dict[str, Any] = {
            "source": path.name, "source_path": resolved, "chunk": number,
            "page": passage.page, "line": passage.line, "task": task or "",  # "" = every task
        }
        records.append((f"lit:{key}:{number}", passage.text, meta))
    return records


def ingest_literature(
    memory: ChromaMemory,
    paths: Iterable[str | Path],
    *,
    task: str | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[IngestedSource]:
    """Add the files (or folders) at ``paths`` to ``literature``; re-adding a file replaces it.

    ``task`` ties the passages to one task (they are global otherwise); ``on_progress`` is
    told about each file as it goes.
    """
    files = expand(paths)
    if not files:
        raise InvalidInput("no .md, .txt or .pdf files found in the given paths")
    done: list[IngestedSource] = []
    for index, path in enumerate(files, start=1):
        pages, passages = read_passages(path)
        records = literature_records(path, passages, task=task)
        memory.delete("literature", where={"source_path": str(path.resolve())})
        memory.add_many("literature", records)
        done.append(IngestedSource(path.name, str(path.resolve()), pages, len(passages)))
        if on_progress is not None:
            on_progress(f"[{index}/{len(files)}] {path}: {len(passages)} passages from {pages} page(s)")
    return done
