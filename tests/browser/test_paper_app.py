"""A job's paper in the app: the job page's Paper section and the paper gate's card (real browser,
real server).

The jobs and the checkpoint are stored directly and their paper folders written as the paper
writer leaves them (tests/utils/papers.py): the pages only read them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select

from services.lifecycle import Lifecycle
from services.outcomes import Checkpoint, Paused
from services.statuses import JobStatus
from services.store import create_job
from services.store.models import JobRow, TaskRow
from tests.browser.conftest import card, docs_path, screenshot, sign_in
from tests.browser.test_app_pages import unnamed_controls
from tests.services.conftest import Server
from tests.utils.papers import PROSE, paper_payload, write_paper

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def _quick_job(server: Server, status: JobStatus) -> tuple[str, Path]:
    """A job of the uploaded quick task that asked for a paper, stored as it would be; and its folder."""
    with server.store() as store:
        with store.session() as session:
            task = session.scalars(select(TaskRow).where(TaskRow.name == "quick")).first()
            assert task is not None
            path = task.path
        job_id = create_job(store, task_name="quick", task_dir=path, strategy="search", status=status, paper=True,
                            created_by="alice").id
    return job_id, server.home / "runs" / job_id


def test_the_job_page_shows_the_papers_reviews_and_claim_check(app_server: Server, context: BrowserContext) -> None:
    job_id, job_dir = _quick_job(app_server, "succeeded")
    write_paper(job_dir)
    page = context.new_page()
    sign_in(page, app_server, where=f"#/jobs/{job_id}")
    paper = page.locator("section#paper")
    expect(paper.get_by_role("heading", name="Paper", exact=True)).to_be_visible()
    expect(paper.locator("dd .status")).to_have_text("published")
    expect(paper.locator(".meta-review")).to_contain_text("Decision: accept · overall 5 / 10")
    expect(paper.locator(".meta-review")).to_contain_text("A small, honest result.")
    rows = paper.locator("table.reviews tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Reviewer 1")
    assert rows.nth(0).locator("td").all_inner_texts()[:6] == ["6", "3", "2", "2", "4", "accept"]
    assert rows.nth(1).locator("td").all_inner_texts()[:6] == ["3", "2", "3", "1", "3", "reject"]
    # A review's texts are folded; a reviewer's markup is shown as text, never made into an element.
    hostile = paper.get_by_text("<img src=x onerror=alert(1)> too small")
    expect(hostile).to_be_hidden()
    rows.nth(1).get_by_text("Read reviewer 2's review").click()
    expect(hostile).to_be_visible()
    expect(paper.locator("img")).to_have_count(0)
    expect(paper).to_contain_text("Reviews that could not be used: reviewer 3 (the reply was not JSON)")
    expect(paper.locator(".claims li")).to_have_text(["3 in limitations: “One task, 3 seeds.”"])
    # The PDF and the source are saved behind the token, never opened in the app's origin.
    with page.expect_download() as saved:
        paper.get_by_role("link", name="Paper (PDF)").click()
    download = saved.value
    assert download.suggested_filename == f"{job_id}-paper.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
    with page.expect_download() as saved:
        paper.get_by_role("link", name="Markdown source").click()
    assert "(files/paper/metric.png)" in Path(saved.value.path()).read_text()
    assert unnamed_controls(context, page) == []
    paper.screenshot(path=str(docs_path("app-paper.png")))

    # Without its PDF, the section says why and offers only the source; before it is written, why not.
    failed_pdf, failed_dir = _quick_job(app_server, "succeeded")
    write_paper(failed_dir, with_pdf=False, pdf_error="chromium exited with code 1")
    page.goto(f"{app_server.url}/#/jobs/{failed_pdf}")
    expect(paper.locator("dd.error")).to_have_text("chromium exited with code 1")
    expect(paper.get_by_role("link", name="Markdown source")).to_be_visible()
    expect(paper.get_by_role("link", name="Paper (PDF)")).to_have_count(0)
    stopped, _ = _quick_job(app_server, "failed")
    page.goto(f"{app_server.url}/#/jobs/{stopped}")
    expect(paper).to_contain_text(f"job {stopped} ended (failed) without a paper")


def test_a_paper_checkpoint_shows_the_draft_and_its_reviews_and_sends_only_the_edited_sections(
    app_server: Server, context: BrowserContext
) -> None:
    job_id, job_dir = _quick_job(app_server, "waiting")
    write_paper(job_dir)
    checkpoint_id = f"{job_id}-3-paper-0"
    with app_server.store() as store:
        Lifecycle(store).pause(Paused((Checkpoint(
            id=checkpoint_id, job_id=job_id, kind="paper", payload=paper_payload().model_dump(),
            flagged=["the claim check found a numeral no reference accounts for: 3 (limitations)"]),)))
    page = context.new_page()
    sign_in(page, app_server, where="#/checkpoints")
    gate: Any = card(page, "paper")
    expect(gate.get_by_role("heading", name=f"paper checkpoint · {PROSE['title']}")).to_be_visible()
    expect(gate.locator(".flags")).to_contain_text("3 (limitations)")
    draft = gate.locator("details.paper .report")
    expect(draft.get_by_role("heading", name=PROSE["title"])).to_be_visible()
    expect(draft.locator("table td").first).to_have_text("r1s0")
    # The draft's figures (linked relative to paper/) are fetched through the files route.
    figure = draft.get_by_role("img", name="The metric over rounds")
    expect(figure).to_have_attribute("src", re.compile(r"^blob:"))
    page.wait_for_function("(img) => img.src.startsWith('blob:') && img.complete && img.naturalWidth === 8",
                           arg=figure.element_handle())
    expect(gate.locator(".claims li")).to_have_count(1)
    expect(gate.locator("table.reviews tbody tr")).to_have_count(2)
    expect(gate.locator(".meta-review")).to_contain_text("Decision: accept")
    assert unnamed_controls(context, page) == []

    gate.get_by_role("button", name="Edit…").click()
    for name, label in (("title", "Title"), ("abstract", "Abstract"), ("limitations", "Limitations")):
        expect(gate.get_by_label(label, exact=True)).to_have_value(PROSE[name])
    gate.get_by_role("button", name="Send edit").click()
    expect(gate.get_by_role("alert")).to_contain_text("no section was changed")
    abstract = "We move x towards 1 and gain {{gain r1s0}} on paired seeds."
    gate.get_by_label("Abstract", exact=True).fill(abstract)
    screenshot(page, "app-paper-checkpoint.png")
    gate.get_by_role("button", name="Send edit").click()
    expect(gate).to_contain_text("Decided: edit")
    decided = app_server.client().get(f"/v1/checkpoints/{checkpoint_id}").json()
    assert decided["decision"]["action"] == "edit"
    assert decided["decision"]["edit"] == {"abstract": abstract}  # only the section that changed


def test_the_page_of_a_job_run_from_a_folder_reads_its_metric_from_its_summary(
    app_server: Server, context: BrowserContext
) -> None:
    # `labloop run DIR` and `make demo` run a task folder nobody uploaded: there is no task to read.
    with app_server.store() as store:
        job_id = create_job(store, task_name="from-a-folder", task_dir="/nowhere", strategy="search",
                            status="succeeded", paper=True).id
        with store.session() as session:
            row = session.get(JobRow, job_id)
            assert row is not None
            row.summary = {"baseline": {"loss": 0.5}, "best": {"metrics": {"loss": 0.25}}, "findings": []}
    write_paper(app_server.home / "runs" / job_id)
    page = context.new_page()
    sign_in(page, app_server, where=f"#/jobs/{job_id}")

    expect(page.get_by_role("heading", level=1)).to_contain_text("succeeded")
    expect(page.locator("dl").first).to_contain_text("loss")
    expect(page.locator("section#paper").locator("dd .status")).to_have_text("published")
    expect(page.get_by_text("no task 'from-a-folder'")).to_have_count(0)
