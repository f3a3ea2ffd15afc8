"""The ``labloop`` command line as a newcomer meets it: its help, its version, its token, and
checkpoints of local jobs decided with or without a server.

Every command runs as a real subprocess; the server is a real ``labloop serve`` with named
tokens; the local jobs run in the real sandbox.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import typer
import yaml
from typer.main import get_command

from services.cli import _register, app
from services.cli.job_output import rounded, summary_lines
from services.cli.plain_help import plain_help
from services.store import list_checkpoints, list_decisions, open_store
from tests.services.conftest import LABLOOP, ROOT, TOKENS, Server, free_port, task_files

PLACEHOLDER = re.compile(r"<(?:bool|str|int|float|path|Path|list\[[^\]]*\]|[a-z]+)>")


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the CLI, as the words that name it."""
    _register()
    paths: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(get_command(app), ())
    return paths


def _labloop(*args: str, env: dict[str, str], timeout: float = 300, columns: int = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABLOOP, *args], cwd=ROOT, env={**env, "COLUMNS": str(columns)}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABLOOP_", "OPENAI_"))}
    return {**env, "LABLOOP_HOME": str(home), "LABLOOP_SANDBOX_POOL_SIZE": "0", "PYTHONUNBUFFERED": "1", **extra}


def test_every_help_names_values_without_type_placeholders_and_describes_every_option(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    paths = _command_paths()
    assert len(paths) > 15  # the whole tree, groups included
    running = {path: subprocess.Popen([*LABLOOP, *path, "--help"], cwd=ROOT, env={**env, "COLUMNS": "200"},
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for path in paths}
    for path, proc in running.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (path, err)
        assert not PLACEHOLDER.search(out), f"labloop {' '.join(path)} --help shows {PLACEHOLDER.search(out)}:\n{out}"
        assert "--help" in out and "Show this message and exit." in out

    undescribed = []

    def check(command: Any, path: tuple[str, ...]) -> None:
        for param in command.get_params(typer.Context(command)):
            if not (param.help or "").strip():
                undescribed.append(f"labloop {' '.join(path)} {param.name}")
        for name, sub in getattr(command, "commands", {}).items():
            check(sub, (*path, name))

    check(plain_help(get_command(app)), ())
    assert not undescribed, f"options and arguments without a description: {undescribed}"


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    ran = _labloop("--version", env=_env(tmp_path / "home"))
    assert ran.returncode == 0 and ran.stdout.strip() == f"labloop {version('labloop')}", ran


def test_summaries_round_to_4_significant_digits_and_name_the_report_once() -> None:
    assert [rounded(v) for v in (0.7074074074074074, 407.0, 0.000641234, 12, True, "rbf")] == [
        "0.7074", "407", "0.0006412", "12", "True", "rbf"]
    lines = summary_lines("job-1", "succeeded", {
        "baseline": {"accuracy": 0.7074074074074074},
        "best": {"metrics": {"accuracy": 0.9925925925925926, "support_vectors": 407.0},
                 "params": {"C": 28.2147, "kernel": "rbf"}},
        "experiments": 19, "findings": [{}], "report": "/r/report.md"})
    assert lines == ["job job-1 succeeded: baseline accuracy 0.7074; best accuracy 0.9926, support_vectors 407 with "
                     "C=28.21, kernel=rbf; 19 experiment(s), 1 finding(s)", "report: /r/report.md"]


def test_a_401_names_the_variable_to_set_and_the_token_is_accepted_from_either_place(
    make_server: object, tmp_path: Path
) -> None:
    server: Server = make_server().start()  # type: ignore[operator]
    env = _env(tmp_path / "client", LABLOOP_API_URL=server.url)

    for args, extra in ((("jobs",), {}), (("checkpoints",), {"LABLOOP_API_TOKEN": "wrong-token"})):
        refused = _labloop(*args, env={**env, **extra})
        assert refused.returncode == 2, refused
        assert "LABLOOP_API_TOKEN" in refused.stderr and "--token" in refused.stderr, refused.stderr
        assert ("refused the token" if extra else "needs a token") in refused.stderr

    by_variable = _labloop("jobs", "--json", env={**env, "LABLOOP_API_TOKEN": TOKENS["alice"]})
    by_option = _labloop("checkpoints", "--json", "--token", TOKENS["bob"], env=env)
    assert by_variable.returncode == 0 and json.loads(by_variable.stdout) == [], by_variable.stderr
    assert by_option.returncode == 0 and json.loads(by_option.stdout) == [], by_option.stderr


def _two_gate_task(folder: Path) -> Path:
    """A tiny task whose rounds have two branches, so two code gates wait at once."""
    files = task_files("twogates", iterations=2)
    spec = yaml.safe_load(files["task.yaml"])
    spec["search"] = {"parallel": 2}
    files["task.yaml"] = yaml.safe_dump(spec)
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_local_checkpoints_are_listed_and_decided_beside_a_server_that_does_not_know_them(
    make_server: object, tmp_path: Path
) -> None:
    server: Server = make_server(tmp_path / "server-home").start()  # type: ignore[operator]
    home = tmp_path / "home"
    env = _env(home, LABLOOP_API_URL=server.url, LABLOOP_API_TOKEN=TOKENS["alice"])
    task = _two_gate_task(tmp_path / "twogates")

    # Unattended (stdin is /dev/null), on a 40-column terminal: the job waits at two code gates.
    ran = _labloop("run", str(task), "--strategy", "search", "--gate", "code=always", "--gate", "finding=never",
                   "--no-memory", "--json", env=env, columns=40)
    assert ran.returncode == 3, ran.stderr
    waiting = json.loads(ran.stdout)
    job_id, ids = waiting["job_id"], sorted(cp["id"] for cp in waiting["checkpoints"])
    assert ids == [f"{job_id}-r1s0-code-0", f"{job_id}-r1s1-code-0"]
    lines = ran.stderr.splitlines()
    for cp in ids:  # each instruction is one whole line, however narrow the terminal
        assert f"    labloop approve {cp}" in lines and f"    labloop reject {cp} --reason '...'" in lines, ran.stderr
    assert f"or approve them all: labloop approve --all {job_id}" in lines, ran.stderr

    # The server answers but has never heard of the job: the listing comes from this machine.
    listed = _labloop("checkpoints", "--job", job_id, "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert sorted(cp["id"] for cp in json.loads(listed.stdout)) == ids
    no_server = {**env, "LABLOOP_API_URL": f"http://127.0.0.1:{free_port()}"}
    plain = _labloop("checkpoints", env=no_server)
    assert plain.returncode == 0 and {line.split()[0] for line in plain.stdout.splitlines()} == set(ids), plain

    # One approval through the server's "no such checkpoint": decided here, the job goes on here
    # and waits again at the other gate of the round.
    first = _labloop("approve", ids[0], "--json", env=env)
    assert first.returncode == 3, first.stderr
    assert [cp["id"] for cp in json.loads(first.stdout)["checkpoints"]] == [ids[1]]

    # Every pending checkpoint, then each new one until the job ends.
    rest = _labloop("approve", "--all", job_id, "--follow", env=env)
    assert rest.returncode == 0, rest.stderr
    assert f"approved {ids[1]}" in rest.stderr
    assert rest.stdout.count("report: ") == 1 and rest.stdout.startswith(f"job {job_id} succeeded: baseline score")
    decimals = re.findall(r"\d+\.\d+", rest.stdout.splitlines()[0])
    assert decimals and all(len(d.replace(".", "").lstrip("0")) <= 4 for d in decimals), rest.stdout
    with open_store(f"sqlite:///{home / 'labloop.db'}") as store:
        assert not list_checkpoints(store, job_id=job_id, status="pending")
        decided = list_checkpoints(store, job_id=job_id, status="decided")
        assert len(decided) == 4  # two rounds of two code gates
        assert {d.action for d in list_decisions(store, job_id)} == {"approve"}

    unknown = _labloop("approve", "cp-nobody-knows", env=env)
    assert unknown.returncode == 2 and "this machine's database has no checkpoint" in unknown.stderr, unknown
