"""A model's code change with a path no workspace can hold is a failed attempt with the reason; the job goes on.

Before, a NUL byte, a name over 255 bytes, a path over the system's limit or a file used as a
folder crashed the whole job with a traceback when the workspace was written.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agents.edits import CodeChange, apply_change
from agents.workspace_paths import check_layout, workspace_problem
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import QUALITY, make_task, model_parts, run_job
from tests.agents.test_llm_job import IDEA, REVIEW
from tests.utils.fake_llm import FakeLLM

ORIGINALS = {"experiment.py": "x = 1\n", "lib/util.py": "y = 2\n"}
BAD_PATHS = [
    ("bad\x00.py", "contains a NUL byte"),
    ("a" * 256 + ".py", "has a name longer than 255 bytes"),
    ("/".join(["d" * 200] * 25) + "/x.py", "is longer than 1024 bytes"),
    ("../escape.py", "must be relative to the workspace, without '..'"),
    ("/etc/cron.d/pwn", "must be relative to the workspace, without '..'"),
    ("ok/../../x.py", "must be relative to the workspace, without '..'"),
    ("", "must be relative to the workspace"),
    ("evil\x1b]0;pwned\x07.py", "contains control characters"),
    ("data.csv/x.py", "uses the file 'data.csv' as a folder"),
    ("experiment.py/x.py", "uses the file 'experiment.py' as a folder"),
    ("lib", "is a folder of the task, not a file"),
    ("link/x.py", "goes through the link 'link' of the task folder"),
    ("link", "goes through the link 'link' of the task folder"),
]


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    """A task folder with a data file no prompt shows, a folder, and a link."""
    folder = tmp_path / "task"
    (folder / "lib").mkdir(parents=True)
    (folder / "experiment.py").write_text(ORIGINALS["experiment.py"])
    (folder / "lib" / "util.py").write_text(ORIGINALS["lib/util.py"])
    (folder / "data.csv").write_text("a,b\n1,2\n")
    (folder / "link").symlink_to("lib")
    return folder


@pytest.mark.parametrize(("path", "reason"), BAD_PATHS)
def test_each_bad_path_is_refused_with_its_reason(task_dir: Path, path: str, reason: str) -> None:
    change = CodeChange(files=[{"path": path, "content": "print('hi')\n"}])  # type: ignore[list-item]
    with pytest.raises(ValueError) as refused:
        check_layout(apply_change(ORIGINALS, {}, change), task_dir)
    assert reason in str(refused.value)

    problem = workspace_problem([path], task_dir)  # what execute says of a human edit with it
    assert problem is not None and reason in problem


def test_a_change_that_uses_its_own_file_as_a_folder_is_refused(task_dir: Path) -> None:
    change = CodeChange(files=[{"path": "new.py", "content": "1"}, {"path": "new.py/x.py", "content": "2"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="uses the file 'new.py' as a folder"):
        check_layout(apply_change(ORIGINALS, {}, change), task_dir)


def test_good_paths_pass(task_dir: Path) -> None:
    change = CodeChange(files=[{"path": "./lib/new.py", "content": "1"}, {"path": "src/deep/x.py", "content": "2"}],  # type: ignore[list-item]
                        edits=[{"path": "experiment.py", "search": "x = 1", "replace": "x = 3"}])  # type: ignore[list-item]
    changed = apply_change(ORIGINALS, {}, change)
    check_layout(changed, task_dir)
    assert sorted(changed) == ["experiment.py", "lib/new.py", "src/deep/x.py"]
    assert workspace_problem(changed, task_dir) is None


def _writes(path: str) -> str:
    return json.dumps({"explanation": "write a helper", "files": [{"path": path, "content": "print('hi')\n"}]})


def _worse(value: float) -> str:
    # The whole file, not an edit: the selection policy may expand a round's earlier node, whose file differs.
    code = textwrap.dedent(QUALITY).lstrip()
    assert "    return 0.5" in code
    return json.dumps({"explanation": "lower the quality", "files": [
        {"path": "experiment.py", "content": code.replace("    return 0.5", f"    return {value}")}]})


def test_bad_paths_in_a_job_are_failed_attempts_and_the_job_goes_on(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 3},
                     extra={"data.csv": "a,b\n1,2\n"})
    (task / "lib").mkdir()
    (task / "lib" / "util.py").write_text("y = 2\n")
    rounds = [BAD_PATHS[0], BAD_PATHS[1]], [BAD_PATHS[2], BAD_PATHS[3]], [BAD_PATHS[8], BAD_PATHS[10]]
    for value, bad in zip((0.4, 0.3, 0.2), rounds, strict=True):
        llm.add("ideate", IDEA)
        llm.add("implement", *(_writes(path) for path, _reason in bad), _worse(value))
        llm.add("review", REVIEW)
    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm")

    assert outcome.status == "succeeded", outcome.error
    assert llm.calls("implement") == 9
    told = [r["messages"][-1]["content"] for r in llm.requests if r["messages"][-1]["role"] == "user"
            and "could not be used" in r["messages"][-1]["content"]]
    expected = [reason for bad in rounds for _path, reason in bad]
    assert len(told) == len(expected)
    for message, reason in zip(told, expected, strict=True):
        assert reason in message, message
    rows = list_experiments(store, outcome.job_id)
    candidates = sorted((r for r in rows if r.role == "candidate"), key=lambda r: r.id)
    assert [r.status for r in candidates] == ["succeeded"] * 3
    assert all(r.status != "running" for r in rows)
