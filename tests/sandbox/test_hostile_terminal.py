"""An experiment's escape sequences never reach the operator's terminal through the CLI.

Before, `labloop sandbox run` relayed an experiment's output byte for byte: ``\\x1b]0;pwned\\x07``
retitled the operator's window and ``\\x1b[2J`` cleared their screen, and the error line quoted
the experiment's stderr the same way. ``--json`` keeps the bytes, as JSON-escaped data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from services.cli.terminal import printable

REPO = Path(__file__).resolve().parents[2]
LABLOOP = [sys.executable, "-c", "from services.cli import main; main()"]
ATTACK = "\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b]52;c;cm0gLXJmIH4=\x07\x1bP+q\x1b\\\x9b31m\u202eevil\rhidden"
CONTROLS = [b"\x1b", b"\x07", b"\r", b"\x9b".decode("latin-1").encode(), "\u202e".encode()]


@pytest.mark.parametrize(("text", "expected"), [
    ("\x1b]0;pwned\x07\x1b[2Jhello", "hello"),
    ("50%\r100%\n", "50%\n100%\n"),
    ("line\r\nnext\ttab", "line\nnext\ttab"),
    ("\x1b]52;c;ZXZpbA==\x1b\\ok", "ok"),
    ("\x9b2Jx\x9d0;title\x9cy", "xy"),
    ("\x1bPq#0;2;0;0;0\x1b\\after", "after"),
    ("\x1b[?1049h\x1b[1;31mred\x1b[0m", "red"),
    ("nul\x00 bs\x08 del\x7f vt\x0b ff\x0c", "nul bs del vt ff"),
    ("abc\u202edef\u2066", "abcdef"),
    ("tail \x1b", "tail "),
    ("plain: ünïcödé ✓ [bold]", "plain: ünïcödé ✓ [bold]"),
])
def test_printable_drops_escape_sequences_and_controls(text: str, expected: str) -> None:
    assert printable(text) == expected


def _task(root: Path) -> Path:
    folder = root / "noisy"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text(yaml.safe_dump({
        "name": "noisy", "goal": "print hostile bytes", "metric": {"name": "score", "direction": "maximize"},
        "entrypoint": "python3 experiment.py", "budget": {"iterations": 1, "experiment_timeout_s": 60},
        "sandbox": {"cpus": 1.0, "memory": "256m", "network": "none"},
    }))
    (folder / "experiment.py").write_text(textwrap.dedent(f"""
        import sys
        attack = {ATTACK!r}
        for i in range(50):
            print(attack, i, flush=True)
            print(attack, i, file=sys.stderr, flush=True)
        sys.exit("failed \x1b]0;pwned\x07\x1b[2J\x1b[1A\x9b31m\u202eevil")
    """))
    return folder


def _labloop(*args: str, home: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LABLOOP_HOME": str(home), "LABLOOP_LLM_BASE_URL": ""}
    return subprocess.run([*LABLOOP, *args], cwd=REPO, env=env, capture_output=True, timeout=300, check=False)


def _assert_no_controls(data: bytes) -> None:
    for control in CONTROLS:
        assert control not in data, (control, data[:400])


@pytest.mark.docker
def test_sandbox_run_shows_no_escape_sequence_of_the_experiment(sandbox_image: str, tmp_path: Path) -> None:
    done = _labloop("sandbox", "run", str(_task(tmp_path)), home=tmp_path / "home")

    assert done.returncode == 1
    _assert_no_controls(done.stdout)
    _assert_no_controls(done.stderr)
    assert b"evil\nhidden 49" in done.stderr  # the relayed output, its text kept
    assert b"error: exited with code 1: failed evil" in done.stdout  # the error quotes stderr, cleaned


@pytest.mark.docker
def test_sandbox_run_json_keeps_the_bytes_as_escaped_data(sandbox_image: str, tmp_path: Path) -> None:
    done = _labloop("sandbox", "run", str(_task(tmp_path)), "--json", home=tmp_path / "home")

    assert done.returncode == 1
    _assert_no_controls(done.stderr)  # the live progress is for the terminal
    assert b"\x1b" not in done.stdout and b"\x07" not in done.stdout  # JSON escapes them...
    result = json.loads(done.stdout)
    assert f"{ATTACK} 49".replace("\r", "\n") in result["stdout_tail"].replace("\r", "\n")  # ...and keeps them


@pytest.mark.docker
def test_labloop_run_shows_no_escape_sequence_of_a_failing_baseline(sandbox_image: str, tmp_path: Path) -> None:
    done = _labloop("run", str(_task(tmp_path)), "--auto-approve", "--strategy", "search", home=tmp_path / "home")

    assert done.returncode == 1, done.stderr
    _assert_no_controls(done.stdout)
    _assert_no_controls(done.stderr)
    assert b"exited with code 1: failed evil" in done.stderr  # the job's error quotes the experiment, cleaned
