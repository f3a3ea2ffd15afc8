"""A finished job's results in the app and over HTTP: the report's figures are served and shown.

The report links its figures relative to itself; over HTTP they resolve to
``/v1/jobs/{id}/files/…`` behind the token, and the job page of a finished job leads with the
result, the tree figure and the plot, with the event log folded at the end.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import screenshot, sign_in, start_job
from tests.services.conftest import Server, job_status, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.docker]


@pytest.fixture(scope="module")
def finished_job(app_server: Server) -> str:
    """A search job of two rounds on the quick task, run to its end."""
    job_id = start_job(app_server, {}, iterations=2)
    wait_for(lambda: job_status(app_server.client(), job_id) in ("succeeded", "failed"), timeout=300,
             what="the job to finish")
    assert job_status(app_server.client(), job_id) == "succeeded"
    return job_id


def test_the_reports_figures_are_served_behind_the_token_and_only_those(app_server: Server, finished_job: str) -> None:
    client = app_server.client()
    report = client.get(f"/v1/jobs/{finished_job}/report").text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert "files/tree.png" in links and "files/metric.png" in links, links
    for link in ("files/tree.png", "files/metric.png"):
        # A browser resolves the link from the report's URL: /v1/jobs/ID/report → /v1/jobs/ID/files/…
        reply = client.get(f"/v1/jobs/{finished_job}/{link}")
        assert reply.status_code == 200, reply.text
        assert reply.content.startswith(b"\x89PNG") and reply.headers["content-type"] == "image/png"
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert app_server.client(user=None).get(f"/v1/jobs/{finished_job}/files/tree.png").status_code == 401
    for unlinked in ("report.md", "../../labloop.db", "%2e%2e/%2e%2e/labloop.db", "/etc/passwd"):
        assert client.get(f"/v1/jobs/{finished_job}/files/{unlinked}").status_code in (400, 404, 422), unlinked
    job_dir = Path(app_server.home) / "runs" / finished_job
    assert (job_dir / "tree.png").is_file()
    # A linked name that has become a link (to a host file) is not followed.
    (job_dir / "metric.png").unlink()
    os.symlink("/etc/hostname", job_dir / "metric.png")
    assert client.get(f"/v1/jobs/{finished_job}/files/metric.png").status_code == 404


def test_a_finished_jobs_page_leads_with_its_result_and_shows_the_tree_figure(
    app_server: Server, finished_job: str, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, app_server, where=f"#/jobs/{finished_job}")
    expect(page.locator("dd.result")).to_contain_text("score")
    figure = page.locator("figure.report-figure img")
    expect(figure).to_have_attribute("src", re.compile(r"^blob:"))
    assert page.evaluate("(img) => img.decode().then(() => img.naturalWidth)", figure.element_handle()) > 300
    expect(page.locator(".report")).to_be_visible()
    expect(page.get_by_text("[figure:", exact=False)).to_have_count(0)
    # Sections the page shows itself are not repeated by the rendered report.
    assert page.locator(".report h4", has_text=re.compile("^(Findings|Experiments|Incumbent)$")).count() == 0
    report_text = page.locator(".report").inner_text()
    for fate in ("no_gain", "not_verified"):  # underscores inside words are text, not emphasis
        if fate in app_server.client().get(f"/v1/jobs/{finished_job}/report").text:
            assert fate in report_text
    # The order: result first, then findings, the figure, the plot, ..., the event log last and folded.
    order = page.evaluate("""() => [...document.querySelectorAll('main h2')].map((h) => h.textContent.trim())""")
    assert order.index("Tree of solutions") < order.index("Metric") < order.index("Experiments"), order
    assert order[-1].startswith("Events"), order
    assert page.locator("details#events").get_attribute("open") is None
    height = page.evaluate("() => document.documentElement.scrollHeight")
    print(f"finished job page: {height} px tall at 1280 px wide")
    screenshot(page, "app-job-finished.png")
