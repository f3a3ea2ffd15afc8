"""``/v1/jobs``: create, list, read, cancel, stream events, read the report, the paper and experiments."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.responses import FileResponse, PlainTextResponse
from sse_starlette import EventSourceResponse

from agents.paper.review_form import PaperReview
from services.api.deps import RunsDep, RuntimeDep, StoreDep, UserDep
from services.api.edge import UNTRUSTED_FILE_HEADERS
from services.api.errors import BadRequest
from services.api.schemas import ExperimentOut, JobCreate, JobOut, JobProgressOut
from services.api.sse import job_events
from services.errors import NotFound
from services.jobs import new_job
from services.paper_files import paper_markdown, paper_pdf, paper_review
from services.report_files import for_http, report_file
from services.statuses import JobStatus
from services.store import get_job, list_experiments, list_jobs
from services.store.progress import jobs_progress, task_version
from services.store.stats import read_job_row

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
JobId = Annotated[str, Path(min_length=1, max_length=40)]
Status = Annotated[JobStatus | None, Query()]


def job_out(row: Any) -> JobOut:
    """A job row (ORM or Core) as the API shows it, with the task version it runs."""
    out = JobOut.model_validate(row)
    out.task_version = task_version(row.task_dir)
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobOut)
async def create_job(body: JobCreate, runtime: RuntimeDep, user: UserDep) -> JobOut:
    """Start a job on the newest version of an uploaded task (queued beyond the concurrency limit)."""
    job = await asyncio.to_thread(new_job, runtime.store, runtime.settings, body, created_by=user)
    await asyncio.to_thread(runtime.lifecycle.create, job)
    runtime.runs.submit(job.id)
    return job_out(job)


@router.get("", response_model=list[JobOut])
def get_jobs(
    store: StoreDep, status: Status = None, task: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobOut]:
    """Jobs, newest first, each with its progress (iteration, experiments, baseline, best, pending checkpoints)."""
    jobs = list_jobs(store, status=status, task_name=task, limit=limit)
    progress = jobs_progress(store, jobs)
    out = [job_out(j) for j in jobs]
    for job in out:
        job.progress = JobProgressOut.model_validate(progress[job.id])
    return out


@router.get("/{job_id}", response_model=JobOut)
async def read_job(job_id: JobId, store: StoreDep) -> Response:
    """One job."""
    # The hottest route (clients poll it): a point read by primary key is short enough to run
    # on the event loop, and the body is serialised once, not validated again by FastAPI.
    row = read_job_row(store, job_id)
    if row is None:
        get_job(store, job_id)  # raises NotFound with the usual message
    return Response(job_out(row).model_dump_json(), media_type="application/json")


@router.post("/{job_id}/cancel", response_model=JobOut)
async def cancel_job(job_id: JobId, runs: RunsDep) -> JobOut:
    """Stop a job at once, its running container included (409 when it already finished)."""
    return job_out(await runs.cancel(job_id))


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
)
async def stream_events(
    job_id: JobId,
    runtime: RuntimeDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=18)] = None,
    after: Annotated[int | None, Query(ge=0, le=10**18, description="Same as Last-Event-ID.")] = None,
) -> EventSourceResponse:
    """The job's events as SSE; reconnect with ``Last-Event-ID`` to continue without gaps."""
    await asyncio.to_thread(get_job, runtime.store, job_id)
    start = after or 0
    if last_event_id:
        if not last_event_id.strip().isdigit():
            raise BadRequest(f"Last-Event-ID must be an event id (a whole number), got {last_event_id!r}")
        start = max(start, int(last_event_id))
    return EventSourceResponse(job_events(runtime.store, runtime.hub, job_id, after=start), ping=15)


@router.get("/{job_id}/report", response_class=PlainTextResponse,
            responses={200: {"content": {"text/markdown": {}}}})
def read_report(job_id: JobId, runtime: RuntimeDep) -> PlainTextResponse:
    """The job's Markdown report (404 until the job has written it); its figures and files are
    linked as ``files/PATH``, which resolves from this URL to ``/v1/jobs/{id}/files/PATH``."""
    job = get_job(runtime.store, job_id)
    path = runtime.settings.runs_dir / job.id / "report.md"
    if not path.is_file():
        raise NotFound(f"job {job_id} has no report yet ({job.status}); it is written when the job ends")
    # The report quotes the model's ideas and the experiments' output: served like an artifact.
    return PlainTextResponse(for_http(path.read_text(encoding="utf-8")), media_type="text/markdown",
                             headers=UNTRUSTED_FILE_HEADERS)


@router.get("/{job_id}/paper", response_class=FileResponse, responses={200: {
    "content": {"application/pdf": {}, "text/markdown": {}},
    "description": "paper.pdf, or with ?format=md paper.md (its figures linked as files/paper/NAME)."}})
def read_paper(
    job_id: JobId, runtime: RuntimeDep,
    format: Annotated[Literal["pdf", "md"], Query(description="pdf, or md for the Markdown source.")] = "pdf",
) -> Response:
    """The job's paper (a job created with ``"paper": true``; 404 until it is written, or when its PDF
    could not be rendered: ``?format=md`` has the source)."""
    job = get_job(runtime.store, job_id)
    job_dir = runtime.settings.runs_dir / job.id
    if format == "md":
        # The paper quotes the model's prose: served like an artifact.
        return PlainTextResponse(paper_markdown(job, job_dir), media_type="text/markdown",
                                 headers=UNTRUSTED_FILE_HEADERS)
    return FileResponse(paper_pdf(job, job_dir), media_type="application/pdf", filename=f"{job.id}-paper.pdf",
                        content_disposition_type="inline", headers=UNTRUSTED_FILE_HEADERS)


@router.get("/{job_id}/paper/review", response_model=PaperReview)
def read_paper_review(job_id: JobId, runtime: RuntimeDep) -> PaperReview:
    """The paper's automated reviews on the NeurIPS form, the meta-review and its claim check (review.json)."""
    job = get_job(runtime.store, job_id)
    return paper_review(job, runtime.settings.runs_dir / job.id)


@router.get("/{job_id}/files/{path:path}", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}, "application/octet-stream": {}}}})
def read_report_file(job_id: JobId, path: str, runtime: RuntimeDep) -> FileResponse:
    """A file the job's report links to (its figures, a template's plots, findings' artifacts), or
    one its paper links to, as ``paper/NAME``."""
    job = get_job(runtime.store, job_id)
    target = report_file(runtime.settings.runs_dir / job.id, path)
    return FileResponse(target, headers=UNTRUSTED_FILE_HEADERS)


@router.get("/{job_id}/experiments", response_model=list[ExperimentOut])
def read_experiments(job_id: JobId, store: StoreDep) -> list[ExperimentOut]:
    """The job's experiments in the order they were recorded."""
    get_job(store, job_id)
    return [ExperimentOut.model_validate(e) for e in list_experiments(store, job_id)]
