"""The review app shows a graded job's grader and self-reported metrics side by side (real browser,
real server, real sandbox)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import sign_in
from tests.services.conftest import Server, job_status, upload, wait_for
from tests.services.test_graded_api import _graded_files

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def test_the_job_page_shows_the_graders_number_with_the_self_reported_claim(
    app_server: Server, context: BrowserContext, tmp_path: Path
) -> None:
    client = app_server.client()
    upload(client, _graded_files(tmp_path / "graded", "graded-app"))
    job = client.post("/v1/jobs", json={"task": "graded-app", "strategy": "search", "budget": {"iterations": 1},
                                        "gates": {"idea": "never", "code": "never", "finding": "never"}})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    wait_for(lambda: job_status(client, job_id) in ("succeeded", "failed"), timeout=240, what="the job to end")
    page = context.new_page()
    sign_in(page, app_server, where=f"#/jobs/{job_id}")
    baseline = page.locator("#experiments tbody tr", has_text="baseline").first
    expect(baseline).to_contain_text("0.5 (self-reported 0.5)")
