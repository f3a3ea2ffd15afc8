"""A job's write-up over HTTP: the files of ``runs/JOB/paper/``, each read through no link.

    paper.md     GET /v1/jobs/{id}/paper?format=md, its figures linked as files/paper/NAME
    paper.pdf    GET /v1/jobs/{id}/paper; absent when it could not be rendered (review.json's
                 pdf_error says why, and the Markdown source is still there)
    review.json  GET /v1/jobs/{id}/paper/review, read through the review form (PaperReview)

Every refusal says what to do: ask for a paper (a job without ``"paper": true`` has none), wait
for the job to end (the paper is written after its report), or read the Markdown source.
The figures themselves are served by the files route (:mod:`services.report_files`).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Protocol

from pydantic import ValidationError

from agents.errors import LabloopError
from agents.paper.review_form import PaperReview
from services.errors import NotFound
from services.report_files import FILES_PREFIX, PAPER, PAPER_DIR, for_http, unlinked_file
from services.statuses import FINISHED

PDF = PAPER_DIR / "paper.pdf"
REVIEW = PAPER_DIR / "review.json"


class PaperJob(Protocol):
    """What of a job row these functions read."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def paper(self) -> bool: ...


def _written(job: PaperJob, job_dir: Path, relative: PurePosixPath) -> Path:
    """A file of the job's paper (``relative`` to the job's folder), or NotFound saying why there is none."""
    if not job.paper:
        raise NotFound(f"job {job.id} did not ask for a paper: start a job with \"paper\": true "
                       "(POST /v1/jobs) or `labloop run --paper` to have its results written up")
    found = unlinked_file(job_dir, relative)
    if found is not None:
        return found
    if job.status not in FINISHED:
        raise NotFound(f"job {job.id} has no paper yet ({job.status}): it is written after the report, "
                       "before the job ends; try again then")
    raise NotFound(f"job {job.id} ended ({job.status}) without a paper: it stopped before writing one; "
                   "its report and events say why")


def paper_markdown(job: PaperJob, job_dir: Path) -> str:
    """paper.md with its figures linked through the files route (``files/paper/NAME`` from
    ``/v1/jobs/{id}/paper``)."""
    source = _written(job, job_dir, PAPER)
    return for_http(source.read_text(encoding="utf-8"), prefix=f"{FILES_PREFIX}{PAPER_DIR}/")


def paper_pdf(job: PaperJob, job_dir: Path) -> Path:
    """paper.pdf, or NotFound with the reason it could not be rendered."""
    _written(job, job_dir, PAPER)
    pdf = unlinked_file(job_dir, PDF)
    if pdf is not None:
        return pdf
    try:
        reason = paper_review(job, job_dir).pdf_error
    except LabloopError:
        reason = ""
    raise NotFound(f"job {job.id}'s paper has no PDF: it could not be rendered ({reason or 'no reason recorded'}); "
                   f"GET /v1/jobs/{job.id}/paper?format=md has its Markdown source")


def paper_review(job: PaperJob, job_dir: Path) -> PaperReview:
    """review.json read through the review form."""
    source = _written(job, job_dir, REVIEW)
    try:
        return PaperReview.model_validate_json(source.read_bytes())
    except ValidationError as exc:
        # Written by the job, so a file that does not read is the server's fault, not the caller's.
        raise LabloopError(f"job {job.id}'s review.json does not match the review form ({exc.error_count()} "
                           f"errors, first: {exc.errors()[0]['msg']}); its paper is still at "
                           f"GET /v1/jobs/{job.id}/paper?format=md") from exc
