"""The files a job's report and paper link to (figures, a template's plots, findings' artifacts), over HTTP.

``report.md`` links its files relative to itself, so the report reads well from the job's folder;
``paper/paper.md`` links its figures relative to the paper's folder. Over HTTP the report is
served at ``/v1/jobs/{id}/report``, the paper's source at ``/v1/jobs/{id}/paper?format=md`` and
their files at ``/v1/jobs/{id}/files/{path}``: ``for_http`` rewrites each relative link to
``files/{path}`` (``files/paper/{path}`` for the paper), which a browser resolves from the
document's URL to the files route. Only what the report or the paper links is served (nothing
else of the job's folder: workspaces, graders' folders, the paper's review.json), and never
through a link.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from agents.errors import InvalidInput
from services.errors import NotFound
from services.tasks import clean_relative_path

FILES_PREFIX = "files/"
PAPER_DIR = PurePosixPath("paper")
"""The paper's folder in the job's folder (``runs/JOB/paper/``)."""
REPORT = PurePosixPath("report.md")
PAPER = PAPER_DIR / "paper.md"
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
_EXTERNAL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|/|#)")


def linked_paths(report: str) -> set[str]:
    """The relative paths that the report's Markdown links and images point at."""
    return {target for _, target, _ in _LINK.findall(report) if not _EXTERNAL.match(target)}


def for_http(report: str, prefix: str = FILES_PREFIX) -> str:
    """The document with each relative link pointing at the job's files route (``prefix`` + PATH)."""

    def rewrite(match: re.Match[str]) -> str:
        head, target, tail = match.groups()
        return match.group(0) if _EXTERNAL.match(target) else f"{head}{prefix}{target}{tail}"

    return _LINK.sub(rewrite, report)


def unlinked_file(job_dir: Path, relative: PurePosixPath) -> Path | None:
    """``relative`` (already clean) in the job's folder when it is a regular file reached through
    no symbolic link, else None: the job's folder holds what experiments and models wrote."""
    root = job_dir.resolve()
    target = root / relative
    # realpath differs from the literal path exactly when a component is a link: refuse those.
    if Path(os.path.realpath(target)) != target or not target.is_file():
        return None
    return target


def _linked_files(job_dir: Path) -> set[PurePosixPath] | None:
    """What the report and the paper link, relative to the job's folder; None when neither is written."""
    report, paper = unlinked_file(job_dir, REPORT), unlinked_file(job_dir, PAPER)
    if report is None and paper is None:
        return None
    linked = set()
    if report is not None:
        linked |= {PurePosixPath(p) for p in linked_paths(report.read_text(encoding="utf-8"))}
    if paper is not None:
        linked |= {PAPER_DIR / p for p in linked_paths(paper.read_text(encoding="utf-8"))}
    return linked


def report_file(job_dir: Path, relative: str) -> Path:
    """The file ``relative`` of the job's folder, if the report or the paper (as ``paper/PATH``)
    links it; links are never followed."""
    linked = _linked_files(job_dir)
    if linked is None:
        raise NotFound("the job has no report yet; its files are served once the report is written")
    try:
        clean = clean_relative_path(relative)
    except InvalidInput as exc:
        raise InvalidInput(f"file path {relative!r} must be relative and stay inside the job's folder") from exc
    if clean not in linked:
        where = "the paper links" if clean.parts[0] == PAPER_DIR.name else "the report links"
        raise NotFound(f"{where} no file {relative!r}")
    target = unlinked_file(job_dir, clean)
    if target is None:
        raise NotFound(f"no file {relative!r} in the job's folder")
    return target
