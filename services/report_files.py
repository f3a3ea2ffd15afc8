"""The files a job's report links to (its figures, a template's plots, findings' artifacts), over HTTP.

``report.md`` links its files relative to itself, so the report reads well from the job's folder.
Over HTTP the report is served at ``/v1/jobs/{id}/report`` and its files at
``/v1/jobs/{id}/files/{path}``: ``for_http`` rewrites each relative link to ``files/{path}``, which
a browser resolves from the report's URL to the files route. Only what the report links is served
(nothing else of the job's folder: workspaces, graders' folders), and never through a link.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from agents.errors import InvalidInput
from services.errors import NotFound
from services.tasks import clean_relative_path

FILES_PREFIX = "files/"
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")
_EXTERNAL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*:|/|#)")


def linked_paths(report: str) -> set[str]:
    """The relative paths that the report's Markdown links and images point at."""
    return {target for _, target, _ in _LINK.findall(report) if not _EXTERNAL.match(target)}


def for_http(report: str) -> str:
    """The report with each relative link pointing at the job's files route (``files/PATH``)."""

    def rewrite(match: re.Match[str]) -> str:
        head, target, tail = match.groups()
        return match.group(0) if _EXTERNAL.match(target) else f"{head}{FILES_PREFIX}{target}{tail}"

    return _LINK.sub(rewrite, report)


def report_file(job_dir: Path, relative: str) -> Path:
    """The file ``relative`` of the job's folder, if the report links it; links are never followed."""
    report = job_dir / "report.md"
    if not report.is_file():
        raise NotFound("the job has no report yet; its files are served once the report is written")
    try:
        clean = clean_relative_path(relative)
    except InvalidInput as exc:
        raise InvalidInput(f"file path {relative!r} must be relative and stay inside the job's folder") from exc
    linked = {PurePosixPath(p) for p in linked_paths(report.read_text(encoding="utf-8"))}
    if clean not in linked:
        raise NotFound(f"the report links no file {relative!r}")
    root = job_dir.resolve()
    target = root / clean
    # realpath differs from the literal path exactly when a component is a link: refuse those.
    if Path(os.path.realpath(target)) != target or not target.is_file():
        raise NotFound(f"no file {relative!r} in the job's folder")
    return target
