"""Fixtures for the browser tests: Debian's chromium driven by Playwright against a real server.

The server is a real ``labloop serve`` subprocess (the service tests' ``Server``) with the real
sandbox. Playwright's own browser download cannot be reached here, so it drives
``/usr/bin/chromium`` (``make browser`` installs it). Screenshots for the README go to ``docs/``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.services.conftest import (
    ROOT,
    TOKENS,
    Server,
    make_server,
    server,
    task_files,
    upload,
)

__all__ = ["make_server", "server"]  # the service tests' server fixtures, here too

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The README's screenshots and timings: written to docs/ when LABLOOP_UPDATE_DOCS=1, else to a
# scratch folder, so that a test run leaves the work tree as it found it.
DOCS = ROOT / "docs" if os.environ.get("LABLOOP_UPDATE_DOCS") == "1" else Path(tempfile.gettempdir()) / "labloop-docs"
pytestmark = pytest.mark.browser
expect.set_options(timeout=30_000)  # a job's next step takes a few sandbox runs on a busy machine


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium per module: Playwright's sync API keeps an event loop running in
    this thread while it is open, which later tests calling ``asyncio.run()`` cannot share."""
    assert Path(CHROMIUM).exists(), "the browser tests need Debian's chromium: run `make browser`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()



@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no stored token) per test."""
    made = browser.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(90_000)
    yield made
    made.close()


def sign_in(page: Page, server: Server, user: str = "alice", where: str = "") -> None:
    """Open the app and sign in with ``user``'s token through the sign-in form."""
    page.goto(f"{server.url}/{where}")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API bearer token").fill(TOKENS[user])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def docs_path(name: str) -> Path:
    """Where the README's file ``name`` is written (see DOCS)."""
    DOCS.mkdir(exist_ok=True)
    return DOCS / name


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG for the README."""
    path = docs_path(name)
    page.screenshot(path=str(path), full_page=True)
    return path


def one_branch_task(name: str = "quick", *, iterations: int = 1) -> dict[str, str]:
    """The service tests' quick task, one branch per round, so a job waits at one gate at a time."""
    files = task_files(name, iterations=iterations)
    spec = yaml.safe_load(files["task.yaml"])
    spec["search"] = {"parallel": 1}
    return {**files, "task.yaml": yaml.safe_dump(spec)}


@pytest.fixture(scope="module")
def app_server(server: Server, sandbox_image: str) -> Server:
    """The module's server with the quick task uploaded (the sandbox image must be built)."""
    upload(server.client(), one_branch_task("quick", iterations=2))
    return server


def start_job(server: Server, gates: dict[str, str], **budget: Any) -> str:
    """Start a job on the quick task through the API; its id."""
    body = {"task": "quick", "gates": {"idea": "never", "code": "never", "finding": "never", **gates}, "budget": budget}
    reply = server.client().post("/v1/jobs", json=body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def card(page: Page, kind: str) -> Any:
    """The first pending checkpoint card of ``kind`` on the page."""
    return page.locator("article[data-checkpoint]", has=page.get_by_role("heading", name=re.compile(f"^{kind} checkpoint"))).first
