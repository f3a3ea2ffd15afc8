"""The review app in a real browser: checkpoints decided as a reviewer does.

Each test signs in, follows a job, reads a checkpoint, decides it, and watches the job go on;
the API is asked afterwards what really happened.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import (
    card,
    one_branch_task,
    screenshot,
    sign_in,
    start_job,
)
from tests.services.conftest import (
    TOKENS,
    Server,
    free_port,
    job_status,
    server_env,
    upload,
    wait_for,
)
from tests.utils.fake_llm import FakeLLM

pytestmark = [pytest.mark.browser, pytest.mark.docker]



def test_a_wrong_token_is_refused_plainly_and_the_token_stays_in_its_tab(app_server: Server, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(app_server.url + "/")
    page.get_by_label("API bearer token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That token was refused")
    sign_in(page, app_server)
    assert page.evaluate("() => sessionStorage.getItem('labloop-token')") == TOKENS["alice"]
    assert page.evaluate("() => localStorage.length") == 0 and context.cookies() == []
    other = context.new_page()  # another tab of the same browser: signs in on its own
    other.goto(app_server.url + "/")
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('labloop-token')") is None


def test_a_token_less_loopback_server_asks_for_no_token(make_server: Any, context: BrowserContext) -> None:
    server = make_server(LABLOOP_API_TOKENS="").start()
    page = context.new_page()
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
    expect(page.get_by_text("local server: no sign-in needed")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in")).to_be_hidden()


def test_sign_in_follow_a_job_to_its_code_checkpoint_read_the_diff_approve_and_watch_it_go_on(
    app_server: Server, context: BrowserContext
) -> None:
    job_id = start_job(app_server, {"code": "always"}, iterations=1)
    page = context.new_page()
    sign_in(page, app_server)
    row = page.locator(f"tr[data-job='{job_id}']")
    expect(row).to_be_visible()
    expect(row.get_by_role("link", name=re.compile("pending checkpoints"))).to_be_visible()
    row.get_by_role("link", name=job_id, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(job_id)
    code = card(page, "code")
    diff = code.get_by_label("code diff")
    expect(diff).to_contain_text("+++ b/params.json")
    expect(diff).to_contain_text('"x":')
    expect(page.locator("#feed")).to_contain_text("is waiting for a human")
    expect(page.locator("#experiments")).to_contain_text("baseline")
    screenshot(page, "app-job.png")
    checkpoint_id = code.get_attribute("data-checkpoint")
    code.get_by_role("button", name="Approve").click()
    expect(code).to_contain_text("Decided: approve")
    # The job goes on: its candidate runs and the live feed and the table show it.
    expect(page.locator("#feed")).to_contain_text(re.compile(rf"experiment {job_id}-\S+-candidate-0 succeeded"))
    expect(page.locator("#experiments tbody tr", has_text="candidate").first).to_contain_text("succeeded")
    expect(page.get_by_role("heading", level=1)).to_contain_text("succeeded", timeout=120_000)
    expect(page.get_by_role("heading", name="Report", exact=True)).to_be_visible()
    # A finished job shows the tree as a figure first; the explorable tree (ideas, diffs) is folded below it.
    expect(page.locator("figure.report-figure img")).to_have_attribute("src", re.compile(r"^blob:"))
    page.locator("details.tree-fold > summary").click()
    tree = page.locator("section.tree")
    expect(tree.get_by_role("heading", name=re.compile("Tree of solutions"))).to_be_visible()
    expect(tree.locator("li[data-node]").first).to_contain_text("succeeded")
    decision = app_server.client().get(f"/v1/checkpoints/{checkpoint_id}").json()["decision"]
    assert decision["action"] == "approve" and decision["decided_by"] == "alice"


def test_a_rejected_idea_s_reason_is_shown_with_the_next_idea(app_server: Server, context: BrowserContext) -> None:
    job_id = start_job(app_server, {"idea": "always"}, iterations=2)
    page = context.new_page()
    sign_in(page, app_server, where="#/checkpoints")
    first = card(page, "idea")
    expect(first).to_contain_text(job_id)
    reject = first.get_by_role("button", name="Reject")
    reject.click()
    expect(first.get_by_role("alert")).to_contain_text("A rejection needs a reason")
    reason = "x beyond 2 breaks the toy model; stay near the middle"
    first.get_by_label("Reason (required to reject)").fill(reason)
    reject.click()
    expect(first).to_contain_text("Decided: reject")
    following = page.locator("article[data-checkpoint]", has_text=job_id).filter(has_not_text="Decided:").first
    expect(following.locator("details", has_text="Earlier decisions")).to_contain_text(reason)
    rejected = app_server.client().get("/v1/checkpoints", params={"status": "decided", "job_id": job_id}).json()
    assert [c["decision"]["reason"] for c in rejected] == [reason]
    feedback = app_server.client().get("/v1/findings", params={"kind": "feedback", "job_id": job_id}).json()
    assert any(reason in f["text"] or reason == f["metadata"].get("reason") for f in feedback), feedback
    app_server.client().post(f"/v1/jobs/{job_id}/cancel")


FIRST_IDEA = json.dumps({"title": "Push x to the edge", "hypothesis": "the score may peak at the bound",
                         "plan": "set x to 3", "params": {"x": 3.0}})
SECOND_IDEA = json.dumps({"title": "Centre x near one", "hypothesis": "a quadratic peaks in its middle",
                          "plan": "set x close to 1", "params": {"x": 1.1}})


@pytest.fixture
def llm_server(tmp_path: Path, sandbox_image: str) -> Iterator[tuple[Server, FakeLLM]]:
    """A server whose llm strategy talks to a scripted OpenAI-compatible server (the one double)."""
    with FakeLLM() as llm:
        home, port = tmp_path / "llm-home", free_port()
        running = Server(home, port, server_env(home, port, LABLOOP_LLM_BASE_URL=llm.base_url,
                                                LABLOOP_LLM_MODEL="fake-model")).start()
        try:
            upload(running.client(), one_branch_task("quick", iterations=2))
            yield running, llm
        finally:
            running.kill()


def test_a_rejection_reason_reaches_the_next_idea_s_prompt_and_is_shown_with_it(
    llm_server: tuple[Server, FakeLLM], context: BrowserContext
) -> None:
    server, llm = llm_server
    llm.add("ideate", FIRST_IDEA, SECOND_IDEA)
    reply = server.client().post("/v1/jobs", json={"task": "quick", "strategy": "llm", "gates": {"idea": "always"}})
    job_id = reply.json()["id"]
    page = context.new_page()
    sign_in(page, server, where=f"#/jobs/{job_id}")
    first = card(page, "idea")
    expect(first).to_contain_text("Push x to the edge")
    reason = "the bound is where the toy model is least reliable"
    first.get_by_label("Reason (required to reject)").fill(reason)
    first.get_by_role("button", name="Reject").click()
    second = page.locator("article[data-checkpoint]", has_text="Centre x near one")
    expect(second.locator("details", has_text="Earlier decisions")).to_contain_text(reason)
    prompts = llm.prompts("ideate")
    assert len(prompts) == 2 and reason not in prompts[0] and reason in prompts[1], prompts[-1]
    server.client().post(f"/v1/jobs/{job_id}/cancel")


def test_a_flagged_change_shows_why_first_and_its_files_edited_as_a_diff_are_what_runs(
    llm_server: tuple[Server, FakeLLM], context: BrowserContext
) -> None:
    server, llm = llm_server
    llm.add("ideate", json.dumps({"title": "Move the default x", "hypothesis": "x nearer 1 scores better",
                                  "plan": "change the default in experiment.py", "params": {}}))
    llm.add("implement", json.dumps({"explanation": "a better default, and a look around", "edits": [
        {"path": "experiment.py", "search": 'p = {"x": -2.0}',
         "replace": 'import subprocess\nsubprocess.run(["true"])\np = {"x": 0.5}'}]}))
    reply = server.client().post("/v1/jobs", json={"task": "quick", "strategy": "llm", "gates": {"code": "auto"},
                                                   "budget": {"iterations": 1}})
    job_id = reply.json()["id"]
    page = context.new_page()
    sign_in(page, server, where="#/checkpoints")
    code = card(page, "code")
    flags = code.get_by_role("note", name="Why this was flagged")
    expect(flags).to_contain_text("subprocess")
    assert code.evaluate("(card, note) => card.querySelector('.flags') === card.children[1]", flags.element_handle())
    expect(code.get_by_label("code diff")).to_contain_text('+p = {"x": 0.5}')
    # What to decide by: which branch asks, the idea, the model's explanation, the results to beat,
    # the diff from the parent, and the diff from the task's files folded beneath it.
    expect(code.get_by_label("Branch")).to_contain_text(re.compile(r"round 1, slot 0 \(r1s0\): \w+ of root"))
    expect(code).to_contain_text("x nearer 1 scores better")
    expect(code).to_contain_text("change the default in experiment.py")
    expect(code).to_contain_text("a better default, and a look around")
    results = code.get_by_role("table", name="Results to compare")
    expect(results.locator("tr[data-role=parent]")).to_contain_text("root")
    expect(results.locator("tr[data-role=incumbent]")).to_contain_text("-9")  # the baseline's score, -(-2 - 1)^2
    expect(code.get_by_role("heading", name="Diff from the parent (root)")).to_be_visible()
    root_diff = code.get_by_label("diff from the task's files")
    expect(root_diff).to_be_hidden()
    code.get_by_text("Diff from the task's files (the root)").click()
    expect(root_diff).to_contain_text('+p = {"x": 0.5}')
    screenshot(page, "app-checkpoint.png")
    code.get_by_role("button", name="Edit…").click()
    diff = code.get_by_label(re.compile("^Files, as a diff"))
    proposed = diff.input_value()
    edited = "\n".join(line for line in proposed.split("\n") if "subprocess" not in line).replace('"x": 0.5', '"x": 1.0')
    assert edited != proposed and "subprocess" not in edited
    diff.fill(edited)
    code.get_by_role("button", name="Send edit").click()
    expect(code).to_contain_text("Decided: edit")
    ran = wait_for(lambda: [e for e in server.client().get(f"/v1/jobs/{job_id}/experiments").json()
                            if e["role"] == "candidate" and e["status"] != "running"], what="the candidate's run")[0]
    assert ran["status"] == "succeeded", ran
    assert '+p = {"x": 1.0}' in ran["diff"] and "subprocess" not in ran["diff"]
    assert ran["result"]["metrics"]["score"] == 0.0  # -(1.0 - 1)^2 on seed 0: the edited file ran
    server.client().post(f"/v1/jobs/{job_id}/cancel")


def test_params_edited_at_an_idea_gate_are_what_runs(app_server: Server, context: BrowserContext) -> None:
    job_id = start_job(app_server, {"idea": "always"}, iterations=1)
    page = context.new_page()
    sign_in(page, app_server, where=f"#/jobs/{job_id}")
    idea = card(page, "idea")
    idea.get_by_role("button", name="Edit…").click()
    x = idea.get_by_label(re.compile(r"^x \("))
    x.fill("0.75")
    idea.get_by_role("button", name="Send edit").click()
    expect(idea).to_contain_text("Decided: edit")
    run = page.locator("#experiments tbody tr", has_text="candidate").first
    expect(run).to_contain_text('{"x":0.75}')
    expect(run).to_contain_text("succeeded")
    ran = app_server.client().get(f"/v1/experiments/{run.get_attribute('data-experiment')}").json()
    assert ran["params"] == {"x": 0.75} and ran["status"] == "succeeded" and ran["job_id"] == job_id


def test_a_finding_shows_its_paired_evidence_and_once_approved_is_listed_with_the_job(
    app_server: Server, context: BrowserContext
) -> None:
    job_id = start_job(app_server, {"idea": "always", "finding": "always"}, iterations=1)
    page = context.new_page()
    sign_in(page, app_server, where=f"#/jobs/{job_id}")
    idea = card(page, "idea")
    idea.get_by_role("button", name="Edit…").click()
    idea.get_by_label(re.compile(r"^x \(")).fill("0.9")  # far better than the baseline's x = -2
    idea.get_by_role("button", name="Send edit").click()
    finding = card(page, "finding")
    expect(finding).to_contain_text("verified: mean paired gain")
    evidence = finding.get_by_role("table", name="Paired runs against the incumbent (same seeds)")
    expect(evidence.get_by_role("row")).to_have_count(3)  # a header and one row per replicate seed
    expect(finding.get_by_label("code diff")).to_contain_text('"x": 0.9')
    finding.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("succeeded", timeout=120_000)
    found = page.locator("section[aria-labelledby='findings-title']")
    expect(found.get_by_role("heading", level=3).first).to_have_text(re.compile("— accepted$"))
    expect(found.get_by_role("table", name="Paired runs against the incumbent (same seeds)").first).to_be_visible()


def test_cancel_asks_for_confirmation_then_stops_the_job(app_server: Server, context: BrowserContext) -> None:
    job_id = start_job(app_server, {"code": "always"}, iterations=1)
    page = context.new_page()
    sign_in(page, app_server, where=f"#/jobs/{job_id}")
    expect(card(page, "code")).to_be_visible()
    page.get_by_role("button", name="Cancel job…").click()
    confirm = page.get_by_role("group", name="Confirm cancel")
    expect(confirm.get_by_role("button", name="Yes, cancel the job")).to_be_focused()
    confirm.get_by_role("button", name="No, keep it running").click()
    expect(confirm).to_be_hidden()
    assert job_status(app_server.client(), job_id) == "waiting"
    page.get_by_role("button", name="Cancel job…").click()
    confirm.get_by_role("button", name="Yes, cancel the job").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("cancelled")
    assert job_status(app_server.client(), job_id) == "cancelled"
    expect(page.locator("article[data-checkpoint]")).to_have_count(0)  # its checkpoint closed with it
    page.get_by_role("link", name="Jobs").click()
    page.get_by_label("Filter by status").select_option("cancelled")
    expect(page).to_have_url(re.compile(r"#/jobs\?status=cancelled$"))
    expect(page.locator(f"tr[data-job='{job_id}']")).to_be_visible()
    statuses = page.locator("#jobs-table tbody tr .status").all_inner_texts()
    assert statuses and set(statuses) == {"cancelled"}, statuses


def test_deciding_in_a_second_tab_shows_already_decided_and_refreshes(app_server: Server, context: BrowserContext) -> None:
    job_id = start_job(app_server, {"code": "always"}, iterations=1)
    wait_for(lambda: app_server.client().get("/v1/checkpoints", params={"job_id": job_id}).json(),
             what="the code checkpoint", server=app_server)
    first, second = context.new_page(), context.new_page()
    # Bob's tab keeps its clock still, so its own 4 s refresh cannot drop the card before he clicks.
    second.clock.install()
    sign_in(first, app_server, where="#/checkpoints")
    sign_in(second, app_server, user="bob", where="#/checkpoints")
    mine, theirs = (page.locator("article[data-checkpoint]", has_text=job_id) for page in (first, second))
    expect(mine.get_by_role("button", name="Approve")).to_be_visible()
    expect(theirs.get_by_role("button", name="Approve")).to_be_visible()
    checkpoint_id = mine.get_attribute("data-checkpoint")
    mine.get_by_role("button", name="Approve").click()
    expect(mine).to_contain_text("Decided: approve")
    theirs.get_by_role("button", name="Approve").click()
    expect(theirs.get_by_role("alert")).to_contain_text("Already decided")
    second.clock.run_for(3000)
    expect(theirs).to_have_count(0)  # the list refreshed without it
    decision = app_server.client().get(f"/v1/checkpoints/{checkpoint_id}").json()["decision"]
    assert decision["decided_by"] == "alice"
    wait_for(lambda: job_status(app_server.client(), job_id) == "succeeded", what="the job to finish", server=app_server)
