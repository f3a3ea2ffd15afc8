"""The review app in a real browser: new jobs, uploads, schedules, keyboard use, live feed, speed.

Against a real server and the real sandbox; the API is asked afterwards what really happened.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import (
    docs_path,
    one_branch_task,
    screenshot,
    sign_in,
    start_job,
)
from tests.services.conftest import (
    TOKENS,
    Server,
    job_status,
    upload,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.docker]



def test_upload_a_task_and_create_a_job_from_the_form(app_server: Server, context: BrowserContext, tmp_path: Path) -> None:
    tarball = tmp_path / "formtask.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        for name, text in one_branch_task("formtask", iterations=1).items():
            data = text.encode()
            info = tarfile.TarInfo(f"formtask/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    folder = tmp_path / "foldertask"
    folder.mkdir()
    for name, text in one_branch_task("foldertask", iterations=1).items():
        (folder / name).write_text(text)
    page = context.new_page()
    sign_in(page, app_server, where="#/new")
    page.get_by_label("Task folder").set_input_files(str(folder))
    page.get_by_role("button", name="Upload folder").click()
    expect(page.get_by_text("Uploaded foldertask v1 (2 files)")).to_be_visible()
    assert app_server.client().get("/v1/tasks/foldertask").json()["files"] == ["experiment.py", "task.yaml"]
    page.get_by_label("Task as a .tar.gz").set_input_files(str(tarball))
    page.get_by_role("button", name="Upload .tar.gz").click()
    expect(page.get_by_text("Uploaded formtask v1")).to_be_visible()
    expect(page.get_by_label("Task", exact=True)).to_have_value("formtask")
    page.get_by_label("Strategy").select_option("search")
    page.get_by_label("code gate").select_option("never")
    page.get_by_label("idea gate").select_option("never")
    page.get_by_label("finding gate").select_option("never")
    page.get_by_label("paper gate").select_option("never")
    page.get_by_label("Write the results up as a paper").check()
    page.get_by_label("Iterations").fill("1")
    page.get_by_role("button", name="Start job").click()
    started = page.get_by_role("status").filter(has_text="Started").get_by_role("link")
    job_id = started.inner_text()
    job = app_server.client().get(f"/v1/jobs/{job_id}").json()
    assert job["task_name"] == "formtask" and job["budget"]["iterations"] == 1 and job["created_by"] == "alice"
    assert job["gates"] == dict.fromkeys(("idea", "code", "finding", "paper"), "never") and job["paper"] is True
    started.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("succeeded", timeout=120_000)


def test_a_job_on_an_ai_scientist_template_names_its_metric_in_the_form(
    app_server: Server, context: BrowserContext
) -> None:
    from tests.services.test_template_api import _template_files

    upload(app_server.client(), _template_files("tpl-form"))
    page = context.new_page()
    sign_in(page, app_server, where="#/new")
    page.get_by_label("Task", exact=True).select_option("tpl-form")
    page.get_by_label("Metric name").fill("hard.score")
    page.get_by_label("Direction").select_option("minimize")
    page.get_by_label("Strategy").select_option("search")
    page.get_by_role("button", name="Start job").click()
    started = page.get_by_role("status").filter(has_text="Started").get_by_role("link")
    job = app_server.client().get(f"/v1/jobs/{started.inner_text()}").json()
    assert job["task_fields"] == {"metric": {"name": "hard.score", "direction": "minimize"}}
    page.get_by_label("Task", exact=True).select_option("quick")
    expect(page.get_by_label("Metric name")).to_be_hidden()  # a task with task.yaml names its own
    started.click()
    expect(page.locator("dl.facts")).to_contain_text("hard.score (minimize)")


def test_schedules_are_listed_created_and_disabled(app_server: Server, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, app_server, where="#/schedules")
    page.get_by_label("Name", exact=True).fill("nightly quick")
    page.get_by_label("Cron (minute hour day month weekday)").fill("30 2 * * *")
    page.get_by_label("Time zone (IANA)").fill("Europe/Berlin")
    page.get_by_label("Task", exact=True).select_option("quick")
    page.get_by_label("Iterations").fill("1")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_text(re.compile("Created; next run"))).to_be_visible()
    row = page.locator("tr[data-schedule]", has_text="nightly quick")
    expect(row).to_contain_text("30 2 * * * (Europe/Berlin)")
    expect(row).to_contain_text("enabled")
    row.get_by_role("button", name="Disable schedule nightly quick").click()
    expect(row).to_contain_text("disabled")
    (stored,) = [s for s in app_server.client().get("/v1/schedules").json() if s["name"] == "nightly quick"]
    assert stored["enabled"] is False and stored["next_run_at"] is None
    assert stored["template"]["task"] == "quick" and stored["template"]["budget"]["iterations"] == 1


INTERACTIVE = {"button", "link", "textbox", "combobox", "spinbutton", "checkbox", "radio", "listbox", "searchbox",
               "menuitem", "slider", "switch", "tab", "option"}


def unnamed_controls(context: BrowserContext, page: Page) -> list[str]:
    """Controls in chromium's accessibility tree without an accessible name."""
    session = context.new_cdp_session(page)
    nodes = session.send("Accessibility.getFullAXTree")["nodes"]
    session.detach()
    missing = []
    for node in nodes:
        role = (node.get("role") or {}).get("value")
        name = str((node.get("name") or {}).get("value") or "").strip()
        if not node.get("ignored") and role in INTERACTIVE and not name:
            missing.append(f"{role} (backend node {node.get('backendDOMNodeId')})")
    return missing


def focused(page: Page) -> str:
    """What the keyboard focus is on: the element's label, text or id."""
    return str(page.evaluate("""() => { const a = document.activeElement;
        const label = a.labels && a.labels.length ? a.labels[0].textContent : "";
        return (a.getAttribute("aria-label") || label || a.textContent || a.id || a.tagName).trim(); }"""))


def tab_to(page: Page, name: str, limit: int = 80) -> list[str]:
    """Press Tab until the focus is on ``name``; the names passed on the way."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        seen.append(focused(page))
        if seen[-1].startswith(name):
            return seen
    raise AssertionError(f"Tab never reached {name!r}; it went through {seen}")


def test_keyboard_alone_decides_a_checkpoint_and_every_control_has_a_name(app_server: Server, context: BrowserContext) -> None:
    job_id = start_job(app_server, {"code": "always"}, iterations=1)
    page = context.new_page()
    page.goto(app_server.url + "/")
    expect(page.get_by_label("API bearer token")).to_be_focused()
    page.keyboard.type(TOKENS["alice"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.locator(f"tr[data-job='{job_id}']")).to_contain_text("waiting")
    screenshot(page, "app-jobs.png")
    tab_to(page, "Checkpoints")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Pending checkpoints")).to_be_visible()
    expect(page.locator("article[data-checkpoint]", has_text=job_id)).to_be_visible()
    assert unnamed_controls(context, page) == []
    tab_to(page, "Reason (required to reject)")
    page.keyboard.type("keyboard-only check")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "Approve"
    page.keyboard.press("Enter")
    expect(page.locator("article[data-checkpoint]", has_text=job_id)).to_contain_text("Decided: approve")
    wait_for(lambda: job_status(app_server.client(), job_id) == "succeeded", what="the job to finish", server=app_server)
    for where in (f"#/jobs/{job_id}", "#/new", "#/schedules", "#/jobs"):
        page.goto(app_server.url + "/" + where)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert unnamed_controls(context, page) == [], where
    # The job page by keyboard: cancel asks for confirmation first (here the job has ended, so it is gone).
    page.goto(app_server.url + f"/#/jobs/{job_id}")
    expect(page.get_by_role("heading", name="Report", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Cancel job…")).to_be_hidden()


def test_the_event_feed_resumes_after_the_server_restarts_without_gaps_or_repeats(
    app_server: Server, context: BrowserContext
) -> None:
    job_id = start_job(app_server, {"code": "always"}, iterations=1)
    page = context.new_page()
    sign_in(page, app_server, where=f"#/jobs/{job_id}")
    feed = page.locator("#feed")
    expect(feed).to_contain_text("is waiting for a human")
    expect(page.locator("#feed-state")).to_have_text("(connected)")
    page.wait_for_timeout(200)  # the server goes down whatever the page is doing
    app_server.kill()  # SIGKILL: the stream breaks mid-connection
    expect(page.locator("#feed-state")).to_contain_text("disconnected")
    app_server.start()
    expect(page.locator("#feed-state")).to_contain_text("reconnected after event", timeout=30_000)
    checkpoint = page.locator("article[data-checkpoint]").first.get_attribute("data-checkpoint")
    reply = app_server.client().post(f"/v1/checkpoints/{checkpoint}/decision", json={"action": "approve"})
    assert reply.status_code == 200, reply.text
    expect(feed).to_contain_text("job finished: succeeded", timeout=120_000)
    ids = [int(m) for m in re.findall(r"^#(\d+) ", feed.inner_text(), flags=re.MULTILINE)]
    stored = [e["id"] for e in events_of(app_server, job_id)]
    assert ids == stored, (ids, stored)  # every event once, in order, across the reconnect


def events_of(server: Server, job_id: str) -> list[dict[str, Any]]:
    """The job's events as the API replays them from the start."""
    events, data = [], ""
    with server.client() as client, client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                data = line[5:].strip()
            elif not line and data:
                events.append(json.loads(data))
                data = ""
    return events


def seed_job_with_experiments(server: Server, count: int) -> str:
    """A finished job of the quick task with ``count`` recorded experiments, written to the server's database.

    Running 500 real experiments would take the test half an hour; the page only reads them.
    """
    from sqlalchemy import select

    from services.store.models import ExperimentRow, JobRow, TaskRow, utcnow

    job_id = "job-fivehundred"
    store = server.store()
    try:
        with store.session() as session:
            task = session.scalars(select(TaskRow).where(TaskRow.name == "quick")).first()
            assert task is not None
            now = utcnow()
            session.add(JobRow(id=job_id, task_name="quick", task_dir=task.path, strategy="search", status="succeeded",
                               budget={"iterations": count}, gates={}, created_by="alice", cancel_requested=False,
                               created_at=now, started_at=now, finished_at=now))
            session.flush()  # the job row before its experiments (foreign key)
            for i in range(count):
                x = -3.0 + 6.0 * i / count
                failed = i % 17 == 5
                result = {"status": "failed" if failed else "succeeded", "metrics": {} if failed else {"score": -((x - 1) ** 2)},
                          "error": "exit code 1: ValueError: x out of range" if failed else None, "stdout_tail": f"x={x}\n" * 20}
                session.add(ExperimentRow(
                    id=f"{job_id}-{i}-{'baseline' if i == 0 else 'candidate'}-0", job_id=job_id, iteration=i,
                    role="baseline" if i == 0 else "candidate", params={} if i == 0 else {"x": x}, seed=0,
                    status=result["status"], idea_title=f"Try x={x:.3f}", diff=f"+  \"x\": {x}\n", result=result,
                    duration_s=0.4, output_dir="", writes=1, created_at=now, updated_at=now))
    finally:
        store.close()
    return job_id


def test_the_job_page_of_a_job_with_500_experiments_paints_within_a_second(
    app_server: Server, context: BrowserContext
) -> None:
    job_id = seed_job_with_experiments(app_server, 500)
    context.add_init_script(f"sessionStorage.setItem('labloop-token', {TOKENS['alice']!r})")
    sizes: dict[str, int] = {}
    page = context.new_page()
    page.on("response", lambda r: sizes.__setitem__(r.url, len(r.body())) if r.ok and r.request.method == "GET"
            and "/events" not in r.url else None)
    timings = []
    for _ in range(3):  # the first load warms the server's caches; report every one
        page.goto(f"{app_server.url}/#/jobs/{job_id}", wait_until="commit")
        page.wait_for_function("() => performance.getEntriesByName('labloop:job-painted').length > 0", timeout=30_000)
        timings.append(page.evaluate("""() => ({
            painted: performance.getEntriesByName('labloop:job-painted')[0].startTime,
            rendered: performance.getEntriesByName('labloop:job-rendered')[0].startTime,
            first_contentful_paint: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
            slowest_api: Math.max(...performance.getEntriesByType('resource').filter((r) => r.name.includes('/v1/')
              && !r.name.includes('/events')).map((r) => r.duration)) })"""))
        page.goto("about:blank")
    page.goto(f"{app_server.url}/#/jobs/{job_id}")
    expect(page.locator("#experiments tbody tr")).to_have_count(500)
    page.locator("section[aria-labelledby='plot-title']").screenshot(path=str(docs_path("app-plot.png")))
    static = sum(size for url, size in sizes.items() if "/v1/" not in url)
    api = sum(size for url, size in sizes.items() if "/v1/" in url)
    best = min(t["painted"] for t in timings)
    verdict = "met" if best <= 1000 else "MISSED"
    lines = [f"job page, {job_id} (500 experiments), chromium headless on this machine:",
             *(f"  load {n}: job painted at {t['painted']:.0f} ms (DOM built {t['rendered']:.0f} ms, "
               f"first contentful paint {t['first_contentful_paint'] or 0:.0f} ms, slowest API request {t['slowest_api']:.0f} ms)"
               for n, t in enumerate(timings, 1)),
             f"  page weight: {static / 1024:.1f} KB of HTML, CSS and scripts (the plot is drawn by them, no image); "
             f"the API's JSON for this job: {api / 1024:.1f} KB",
             f"  target: painted within 1 s -> {verdict} (best of the three loads: {best:.0f} ms)"]
    report = "\n".join(lines)
    print(report)
    docs_path("app-performance.txt").write_text(report + "\n")
    assert static < 200 * 1024, report
    # The target is 1 s (reported above); the bound is generous so a machine busy with other work
    # does not fail the suite, while a page that got several times slower still does.
    assert best <= 2000, report
