"""A task's requirements are package names, versions, extras and markers, nothing else.

The parser refuses every other thing pip's requirements language can say (URLs, local paths,
``file:``, VCS links, options, ``${VARIABLES}``), naming the line; and the environment build
refuses them again before pip runs, whatever path they came by: a real local package whose
setup.py leaves a marker is never built, a real loopback listener is never asked.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agents.errors import InvalidTask
from agents.task import load_task
from sandbox.environment import fetch_wheels
from sandbox.requirements import InvalidRequirements, normalise_text, parse_requirements
from tests.utils.hostile_tasks import Listener, hostile_task_files, marker_folder, write_task

VALID = """\
# what the experiment imports
numpy>=1.20
scikit-learn[alldeps]==1.2; python_version>="3.8"   # with a marker

tabulate ~= 0.9  # trailing comment
numpy>=1.20
"""


def test_names_versions_extras_and_markers_are_accepted_and_normalised() -> None:
    packages = parse_requirements(VALID)

    assert [p.name for p in packages] == ["numpy", "scikit-learn", "tabulate", "numpy"]
    assert normalise_text(VALID) == (
        'numpy>=1.20\nscikit-learn[alldeps]==1.2; python_version >= "3.8"\ntabulate~=0.9\n'
    )


@pytest.mark.parametrize(("line", "says"), [
    ("evilpkg @ file:///srv/labloop/tasks/x/v1/pkg", "Write evilpkg==VERSION"),
    ("./pkg", "local paths"),
    ("file:./pkg", "file:"),
    ("/abs/pkg", "local paths"),
    ("../pkg", "local paths"),
    ("~/pkg", "local paths"),
    ("x @ file:///etc/passwd", "Write x==VERSION"),
    ("x @ https://example.invalid/x-1.0-py3-none-any.whl", "URLs"),
    ("git+https://example.invalid/x.git#egg=x", "VCS"),
    ("x @ git+https://example.invalid/x.git", "URLs"),
    ("x-1.0-py3-none-any.whl", "local paths"),
    ("pkg.tar.gz", "local paths"),
    ("x @ http://127.0.0.1:9/${LABLOOP_API_TOKENS}/x-1.0-py3-none-any.whl", "${NAME}"),
    ('x; python_version == "${LABLOOP_API_TOKENS}"', "${NAME}"),
    ("--index-url http://127.0.0.1:9/", "pip options"),
    ("-i http://127.0.0.1:9/", "pip options"),
    ("--extra-index-url=http://127.0.0.1:9/", "pip options"),
    ("-f http://127.0.0.1:9/", "pip options"),
    ("-r other.txt", "pip options"),
    ("-e ./pkg", "pip options"),
    ("numpy --hash=sha256:00", "not a package requirement"),
    ("numpy \\", "continue"),
    ("x===anything/at/all", "arbitrary equality"),
    ("numpy\x1b[2J", "control characters"),
    ("not a requirement at all", "not a package requirement"),
])
def test_anything_else_is_refused_naming_the_line_and_the_fix(line: str, says: str) -> None:
    text = f"numpy>=1.20\n\n# a comment\n{line}\n"

    with pytest.raises(InvalidRequirements) as refused:
        parse_requirements(text, source="requirements.txt")

    message = str(refused.value)
    assert message.startswith(f"requirements.txt line 4 ({line.strip()!r})"), message
    assert says in message
    assert refused.value.code == "invalid_requirements"


def test_an_empty_list_is_refused_with_an_example() -> None:
    with pytest.raises(InvalidRequirements, match="lists no package; list one per line, e.g. numpy>=1.20"):
        parse_requirements("# nothing\n\n")


def _task(tmp_path: Path, requirements: str | bytes, **extra: str) -> Path:
    folder = write_task(tmp_path / "task", hostile_task_files("t", "", tmp_path / "unused"))
    target = folder / "requirements.txt"
    target.write_bytes(requirements if isinstance(requirements, bytes) else requirements.encode())
    for name, text in extra.items():
        (folder / name).write_text(text)
    return folder


def test_a_task_hands_on_the_normalised_list(tmp_path: Path) -> None:
    folder = _task(tmp_path, VALID)
    assert load_task(folder).requirements(folder) == normalise_text(VALID)


def test_a_non_utf8_requirements_file_is_refused_naming_it(tmp_path: Path) -> None:
    folder = _task(tmp_path, b"numpy\n\xff\xfe tabulate\n")
    with pytest.raises(InvalidTask, match=r"requirements.txt is not UTF-8 text \(byte 0xff at offset 6\)"):
        load_task(folder).requirements(folder)


@pytest.mark.parametrize("name", ["../outside.txt", "/etc/passwd", "link.txt"])
def test_environment_requirements_must_stay_in_the_task_folder(tmp_path: Path, name: str) -> None:
    (tmp_path / "outside.txt").write_text("numpy\n")
    folder = _task(tmp_path, "numpy\n")
    (folder / "link.txt").symlink_to(tmp_path / "outside.txt")
    spec = (folder / "task.yaml").read_text() + f"environment: {{requirements: {name!r}}}\n"
    (folder / "task.yaml").write_text(spec)

    with pytest.raises(InvalidTask, match="inside the task folder|outside the task folder") as refused:
        load_task(folder).requirements(folder)
    assert str(tmp_path) not in str(refused.value)


def test_the_environment_build_refuses_them_again_before_pip_runs(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: fetch_wheels is handed the hostile text directly (as a task stored
    before these checks, or any other caller, would hand it) and refuses it; nothing is built
    and nothing is fetched. Each call runs in the task's own folder, where a relative path
    would find its package."""
    markers = marker_folder(tmp_path)
    with Listener().running() as listener:
        port = listener.port
        attacks = []
        for spelling in ("url", "relative", "file"):
            folder = write_task(tmp_path / spelling, hostile_task_files(spelling, "", markers / f"{spelling}.txt"))
            line = {"url": f"evilpkg @ file://{folder}/pkg", "relative": "./pkg", "file": "file:./pkg"}[spelling]
            attacks.append((folder, line))
        for line in ("x @ file:///etc/passwd",
                     f"x @ http://127.0.0.1:{port}/${{LABLOOP_API_TOKENS}}/x-1.0-py3-none-any.whl",
                     f"--index-url http://127.0.0.1:{port}/", f"x @ http://127.0.0.1:{port}/x-1.0-py3-none-any.whl"):
            attacks.append((tmp_path, line))
        for number, (folder, line) in enumerate(attacks):
            monkeypatch.chdir(folder)
            with pytest.raises(InvalidRequirements, match="line 1"):
                fetch_wheels(f"{line}\n", tmp_path / f"wheels{number}", python="3.11", log=lambda _line: None)
            assert not (tmp_path / f"wheels{number}").exists()
        time.sleep(3)  # nothing builds in the background either
        assert listener.paths == []
    assert [m.name for m in markers.iterdir()] == []
