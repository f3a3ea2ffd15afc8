"""The README is the way in, so what it says is run: its links resolve and its walkthrough works.

The walkthrough's commands are the fenced blocks that follow a ``<!-- walkthrough -->`` marker
in README.md. They are run in order, in one bash, against a real ``labloop serve`` on a free
loopback port with a token, the real sandbox and the search strategy, in a fresh LABLOOP_HOME.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.store import list_checkpoints, list_jobs, open_store
from services.store.schedules import list_schedules
from tests.services.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 400
MARKER = "<!-- walkthrough -->"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, re.M):
        anchors.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return anchors


def _links(path: Path) -> list[str]:
    # Code spans and fenced blocks hold examples, not links.
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return LINK.findall(re.sub(r"`[^`\n]*`", "", text))


def walkthrough(markdown: str) -> list[str]:
    """The walkthrough's fenced blocks, in order."""
    return re.findall(re.escape(MARKER) + r"\s*```bash\n(.*?)```", markdown, re.S)


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves_to_a_file_and_heading(doc: Path) -> None:
    broken = []
    for target in _links(doc):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: outside the repository
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, f"{doc.name} has broken links:\n" + "\n".join(broken)


def test_the_readme_is_short_and_names_no_outside_design_file() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; reference belongs in docs/"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    naming = [name for name in tracked if Path(name).suffix in {".md", ".py", ".js", ".html", ".yaml", ".toml"}
              and "DESIGN" + ".md" in (ROOT / name).read_text(encoding="utf-8", errors="replace")]
    assert not naming, f"these files point at a design file outside the project: {naming}"


def test_the_walkthrough_has_every_step() -> None:
    script = "\n".join(walkthrough(README.read_text(encoding="utf-8")))
    for step in ("labloop run tasks/digits", "labloop serve", "/v1/tasks", '"gates"', "labloop approve",
                 "/report", "/v1/schedules", "LABLOOP_API_TOKEN"):
        assert step in script, f"the walkthrough lost its step {step!r}"


@pytest.mark.docker
@pytest.mark.slow
def test_the_walkthrough_runs_against_a_real_server(tmp_path: Path) -> None:
    port = free_port()
    blocks = walkthrough(README.read_text(encoding="utf-8"))
    # The README serves on 8000; the test on a free port, so it can run beside anything.
    script = "\n".join(block.replace("8000", str(port)) for block in blocks)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABLOOP_", "OPENAI_"))}
    env.update({"LABLOOP_HOME": str(home), "LABLOOP_API_URL": f"http://127.0.0.1:{port}", "PYTHONPATH": str(ROOT),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                "LABLOOP_SANDBOX_POOL_SIZE": "0", "COLUMNS": "80"})
    ran = subprocess.run(["bash", "-c", "set -eu\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)

    output = f"--- stdout\n{ran.stdout[-6000:]}\n--- stderr\n{ran.stderr[-6000:]}"
    assert ran.returncode == 0, output
    assert re.search(r"^job job-\w+ succeeded: baseline accuracy [\d.]+; best accuracy", ran.stdout, re.M), output
    assert "# " in ran.stdout and "digits" in ran.stdout, output  # the report's head was printed
    with open_store(f"sqlite:///{home / 'labloop.db'}") as store:
        jobs = list_jobs(store)
        assert len(jobs) == 2 and {job.status for job in jobs} == {"succeeded"}, [(j.id, j.status) for j in jobs]
        served = next(job for job in jobs if job.created_by != "cli")
        decided = list_checkpoints(store, job_id=served.id, status="decided")
        assert {cp.kind for cp in decided} >= {"code"}, decided  # the gate held it, approve --all let it go
        assert not list_checkpoints(store, job_id=served.id, status="pending")
        (schedule,) = list_schedules(store)
        assert schedule.cron == "0 3 * * *" and schedule.timezone == "Europe/Berlin"
