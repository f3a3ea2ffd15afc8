"""The host's pip runs as a guest: its own empty folder, a scrubbed environment, another uid.

Real processes throughout: the guest's interpreter reports who and where it is, the host's
pip configuration is read as the service reads it, and a small wheel is really fetched from
the package index by the guest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox import pip_guest
from sandbox.environment import fetch_wheels
from sandbox.pip_guest import (
    GUEST_UID,
    PASSED_VARIABLES,
    GuestCall,
    PipGuest,
    guest_python,
    host_index_config,
)

SECRET = "tok-guest-secret-5d1c0e"
PROBE = ("import json, os; print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(), "
         "'env': dict(os.environ), 'cwd': os.getcwd(), 'listing': os.listdir('.')}))")
AS_ROOT = os.geteuid() == 0


@pytest.fixture
def secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's environment as a server has it: tokens, settings, a PYTHONPATH."""
    monkeypatch.setenv("LABLOOP_API_TOKENS", f"alice:{SECRET}")
    monkeypatch.setenv("LABLOOP_LLM_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("PIP_TARGET", "/tmp/not-for-the-guest")  # a pip setting that is not about the index


def _allowed(env: dict[str, str]) -> None:
    assert set(env) <= PASSED_VARIABLES | {"HOME", "PIP_CONFIG_FILE"}, sorted(env)
    assert not [name for name in env if name.startswith("LABLOOP_")]
    assert not [name for name, value in env.items() if SECRET in value]
    assert "PYTHONPATH" not in env and "PIP_TARGET" not in env


@pytest.mark.usefixtures("secrets_in_the_environment")
def test_the_guest_gets_a_scrubbed_environment_an_empty_folder_and_another_uid() -> None:
    with PipGuest.open() as guest:
        planned = guest.call(["download", "tabulate"])
        python = guest_python(guest.uid, guest.env["PATH"])
        done = guest.run(GuestCall([python, "-I", "-c", PROBE], guest.env, guest.work, guest.uid), timeout=60)
        root = guest.root
    seen = json.loads(done.stdout)

    _allowed(planned.env)
    assert planned.argv[1:4] == ["-I", "-m", "pip"] and planned.cwd == guest.work
    seen["env"].pop("LC_CTYPE", None)  # set by the interpreter itself under the C locale (PEP 538)
    _allowed(seen["env"])
    assert seen["env"]["HOME"] == str(root / "home") and seen["env"]["PATH"] == os.environ["PATH"]
    assert seen["cwd"] == str(root / "work") and seen["listing"] == []  # an empty working folder
    if AS_ROOT:
        assert (seen["uid"], seen["gid"], seen["groups"]) == (GUEST_UID, GUEST_UID, [])
    else:
        assert seen["uid"] == os.getuid()
    assert not root.exists()  # removed afterwards


def test_the_host_index_configuration_still_applies() -> None:
    """Whatever file the service user's pip reads its index settings from is handed over, and
    only the index settings."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=True).stdout
    config = host_index_config()
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        section, _, name = key.partition(".")
        if section in ("global", "download"):
            assert (f"{name} = {value.strip(chr(39))}" in config) == (name in pip_guest.INDEX_SETTINGS), line


def test_what_pip_says_is_shown_without_host_paths() -> None:
    with PipGuest.open() as guest:
        said = (f"Saved {guest.wheels}/tabulate-0.9.0-py3-none-any.whl\n"
                "ERROR: Could not open requirements file: [Errno 2] No such file or directory: '/etc/shadow'\n"
                f"ERROR: file:///srv/labloop/tasks/x/v1/pkg does not exist; see {guest.root}/work/log\n"
                "Looking in indexes: https://pypi.org/simple, https://mirror.example/simple/x/")
        shown = guest.scrub(said)
    assert shown.splitlines() == [
        "Saved tabulate-0.9.0-py3-none-any.whl",
        "ERROR: Could not open requirements file: [Errno 2] No such file or directory: '<path>'",
        "ERROR: <path> does not exist; see work/log",
        "Looking in indexes: https://pypi.org/simple, https://mirror.example/simple/x/",
    ]


@pytest.mark.usefixtures("secrets_in_the_environment")
def test_a_real_wheel_is_fetched_by_the_guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    spawn = pip_guest._spawn

    def observed(call: GuestCall, timeout: float) -> subprocess.CompletedProcess[str]:
        started.append({"call": call, "listing": sorted(os.listdir(call.cwd))})
        return spawn(call, timeout)

    monkeypatch.setattr(pip_guest, "_spawn", observed)
    log: list[str] = []
    pip_wheel = fetch_wheels("tabulate==0.9.0\n", tmp_path / "wheels", python="3.11", log=log.append)

    assert pip_wheel.startswith("pip-") and (tmp_path / "wheels" / "tabulate-0.9.0-py3-none-any.whl").is_file()
    assert (tmp_path / "wheels" / "requirements.txt").read_text() == "tabulate==0.9.0\n"
    [download] = [s for s in started if "download" in s["call"].argv]
    call = download["call"]
    _allowed(call.env)
    assert download["listing"] == []
    assert "--only-binary=:all:" in call.argv and "-r" not in call.argv and "tabulate==0.9.0" in call.argv
    assert call.uid == (GUEST_UID if AS_ROOT else None)
    assert "  Saved tabulate-0.9.0-py3-none-any.whl" in log
    assert not [line for line in log if "/tmp" in line or str(tmp_path) in line]
