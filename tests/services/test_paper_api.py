"""A job's paper over HTTP against a real server: the PDF, the Markdown source whose figures resolve
to the files route, review.json on the review form, and 404s that say what to do.

The paper folder is written here as the paper writer leaves it (tests/utils/papers.py), on jobs
stored directly, so no job runs on to write over it.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from agents.paper.review_form import PaperReview
from services.statuses import JobStatus
from services.store import create_job
from tests.services.conftest import Server, job_status, task_files, upload, wait_for
from tests.utils.papers import PAPER_MD, review, write_paper

UNTRUSTED = {"x-content-type-options": "nosniff", "content-security-policy": "default-src 'none'; sandbox"}


def _job(server: Server, *, status: JobStatus = "succeeded", paper: bool = True) -> tuple[str, Path]:
    """A job stored as the API sees it, and its folder (runs/JOB)."""
    with server.store() as store:
        job_id = create_job(store, task_name="t", task_dir="/nowhere", strategy="search", status=status, paper=paper).id
    return job_id, server.home / "runs" / job_id


def _not_found(reply: httpx.Response, *needles: str) -> str:
    assert reply.status_code == 404, reply.text
    message = str(reply.json()["error"]["message"])
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def _untrusted(reply: httpx.Response) -> None:
    for name, value in UNTRUSTED.items():
        assert reply.headers[name] == value, (name, reply.headers)


def test_the_paper_is_served_as_pdf_and_as_markdown_whose_figures_resolve_to_the_files_route(server: Server) -> None:
    job_id, job_dir = _job(server)
    folder = write_paper(job_dir)
    client = server.client()
    pdf = client.get(f"/v1/jobs/{job_id}/paper")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == f'inline; filename="{job_id}-paper.pdf"'
    _untrusted(pdf)
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == 1
    assert client.get(f"/v1/jobs/{job_id}/paper", params={"format": "pdf"}).content == pdf.content

    source = client.get(f"/v1/jobs/{job_id}/paper", params={"format": "md"})
    assert source.status_code == 200, source.text
    assert source.headers["content-type"] == "text/markdown; charset=utf-8"
    _untrusted(source)
    text = source.text
    assert "![The metric over rounds](files/paper/metric.png)" in text and "(files/paper/tree.png)" in text
    # Only relative links change: a web address and an anchor stay as they are, and so does the prose.
    assert "[the code](https://example.org/code)" in text and "[the task](#task)" in text
    assert text.replace("files/paper/", "") == PAPER_MD
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert figures == ["files/paper/metric.png", "files/paper/tree.png"]
    for link in figures:  # as a browser resolves them from the Markdown's URL
        url = source.url.join(link)
        assert url.path == f"/v1/jobs/{job_id}/{link}"
        figure = client.get(url)
        assert figure.status_code == 200, figure.text
        assert figure.headers["content-type"] == "image/png"
        assert figure.content == (folder / link.rsplit("/", 1)[1]).read_bytes()
        _untrusted(figure)
    anonymous = server.client(user=None)
    for path in ("paper", "paper?format=md", "paper/review", "files/paper/metric.png"):
        assert anonymous.get(f"/v1/jobs/{job_id}/{path}").status_code == 401


def test_the_review_is_served_on_the_review_form_and_the_schema_documents_it(server: Server) -> None:
    job_id, job_dir = _job(server)
    write_paper(job_dir)
    client = server.client()
    reply = client.get(f"/v1/jobs/{job_id}/paper/review")
    assert reply.status_code == 200, reply.text
    assert PaperReview.model_validate(reply.json()) == review()
    body = reply.json()
    assert [(r["reviewer"], r["overall"], r["decision"]) for r in body["reviews"]] == [(1, 6, "accept"), (2, 3, "reject")]
    assert body["meta"]["decision"] == "accept" and body["claims"][0]["numeral"] == "3"

    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/jobs/{job_id}/paper/review"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    components = schema["components"]["schemas"]
    form = components[ref.rsplit("/", 1)[1]]["properties"]
    assert {"status", "reviews", "meta", "unavailable", "failed", "claims", "figures", "pdf_error"} <= set(form)
    assert {"soundness", "presentation", "contribution", "overall", "confidence", "decision", "reviewer"} <= set(
        components["Reviewed"]["properties"])
    paper = schema["paths"]["/v1/jobs/{job_id}/paper"]["get"]
    (fmt,) = [p for p in paper["parameters"] if p["name"] == "format"]
    assert fmt["schema"]["enum"] == ["pdf", "md"]
    assert {"application/pdf", "text/markdown"} <= set(paper["responses"]["200"]["content"])


@pytest.mark.parametrize("path", ["paper", "paper?format=md", "paper/review"])
def test_without_a_paper_the_404_says_what_to_do(server: Server, path: str) -> None:
    client = server.client()
    unasked, unasked_dir = _job(server, paper=False)
    write_paper(unasked_dir)  # even a folder left there is not this job's paper: it did not ask for one
    _not_found(client.get(f"/v1/jobs/{unasked}/{path}"), f"job {unasked} did not ask for a paper",
               '"paper": true', "labloop run --paper")
    running, _ = _job(server, status="running")
    _not_found(client.get(f"/v1/jobs/{running}/{path}"), f"job {running} has no paper yet (running)",
               "written after the report")
    failed, _ = _job(server, status="failed")
    _not_found(client.get(f"/v1/jobs/{failed}/{path}"), f"job {failed} ended (failed) without a paper")
    _not_found(client.get(f"/v1/jobs/job-missing/{path}"), "no job 'job-missing'")


def test_the_format_is_pdf_or_md(server: Server) -> None:
    job_id, job_dir = _job(server)
    write_paper(job_dir)
    reply = server.client().get(f"/v1/jobs/{job_id}/paper", params={"format": "html"})
    assert reply.status_code == 422, reply.text
    assert "format" in reply.json()["error"]["message"]


def test_a_paper_without_its_pdf_names_the_reason_and_points_at_its_source(server: Server) -> None:
    job_id, job_dir = _job(server)
    write_paper(job_dir, with_pdf=False, pdf_error="chromium exited with code 1: no display")
    client = server.client()
    _not_found(client.get(f"/v1/jobs/{job_id}/paper"), "has no PDF", "chromium exited with code 1: no display",
               f"/v1/jobs/{job_id}/paper?format=md")
    assert client.get(f"/v1/jobs/{job_id}/paper", params={"format": "md"}).status_code == 200
    assert client.get(f"/v1/jobs/{job_id}/paper/review").json()["pdf_error"] == "chromium exited with code 1: no display"


def test_the_files_route_serves_only_what_the_paper_links_and_never_through_a_link(server: Server) -> None:
    job_id, job_dir = _job(server)
    folder = write_paper(job_dir)
    (job_dir / "report.md").write_text("# Report\n\n![figure](figure.png)\n")
    (job_dir / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\nreport figure")
    (job_dir / "secret.txt").write_text("do not serve")
    client = server.client()
    assert client.get(f"/v1/jobs/{job_id}/files/figure.png").status_code == 200  # the report's, as before
    assert client.get(f"/v1/jobs/{job_id}/files/paper/metric.png").status_code == 200
    # In paper/ but not linked by paper.md (the review, the source, the PDF, a stray file); linked
    # by paper.md but asked for outside paper/; and ways out of the folder.
    for unlinked in ("paper/notes.txt", "paper/review.json", "paper/paper.md", "paper/paper.pdf", "metric.png",
                     "paper/figure.png", "paper/%2e%2e/secret.txt", "paper/..%2fsecret.txt", "paper/..%2f..%2f..%2flabloop.db",
                     "paper/./../secret.txt", "/etc/hostname"):
        reply = client.get(f"/v1/jobs/{job_id}/files/{unlinked}")
        assert reply.status_code in (400, 404, 422), (unlinked, reply.status_code)
        assert "do not serve" not in reply.text and reply.json()["error"]["message"]
    _not_found(client.get(f"/v1/jobs/{job_id}/files/paper/notes.txt"), "the paper links no file 'paper/notes.txt'")
    # A linked name that has become a link (to a host file) is not followed ...
    (folder / "tree.png").unlink()
    os.symlink("/etc/hostname", folder / "tree.png")
    _not_found(client.get(f"/v1/jobs/{job_id}/files/paper/tree.png"))
    # ... nor a paper folder that is a link to another job's.
    other, other_dir = _job(server)
    other_dir.mkdir(parents=True)
    os.symlink(folder, other_dir / "paper")
    for path in ("files/paper/metric.png", "paper", "paper?format=md", "paper/review"):
        _not_found(client.get(f"/v1/jobs/{other}/{path}"))


@pytest.mark.docker
def test_a_job_created_with_paper_true_says_so_and_has_no_paper_until_it_writes_one(
    server: Server, sandbox_image: str
) -> None:
    client = server.client()
    upload(client, task_files("slow-paper", slow=60))
    created = client.post("/v1/jobs", json={"task": "slow-paper", "paper": True})
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.json()["paper"] is True and client.get(f"/v1/jobs/{job_id}").json()["paper"] is True
    _not_found(client.get(f"/v1/jobs/{job_id}/paper"), f"job {job_id} has no paper yet")
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    wait_for(lambda: job_status(client, job_id) == "cancelled", timeout=60, what="the job to be cancelled", server=server)
    _not_found(client.get(f"/v1/jobs/{job_id}/paper/review"), f"job {job_id} ended (cancelled) without a paper")
    plain = client.post("/v1/jobs", json={"task": "slow-paper"})
    assert plain.status_code == 201 and plain.json()["paper"] is False
    client.post(f"/v1/jobs/{plain.json()['id']}/cancel")
