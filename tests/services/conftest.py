"""Fixtures for the service tests: a REAL uvicorn server (``labloop serve``) in a subprocess.

Each server gets its own temporary LABLOOP_HOME, a free port and two named tokens; it can be
killed with SIGKILL and started again on the same home, which is how the restart tests work.
Tasks are tiny and quick; ``slow`` seconds make the baseline run long enough to be killed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]
TOKENS = {"alice": "tok-alice-0123456789", "bob": "tok-bob-9876543210"}

EXPERIMENT = '''
    import json, os, time
    from pathlib import Path
    p = {"x": -2.0}
    if Path("params.json").exists():
        p.update(json.loads(Path("params.json").read_text()))
    elif Path("slow.txt").exists():
        time.sleep(float(Path("slow.txt").read_text()))
    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    score = -((p["x"] - 1.0) ** 2) + 0.001 * (seed % 7)
    print(f"x={p['x']} score={score}")
    out = Path(os.environ["LABLOOP_OUTPUT"])
    (out / "notes.txt").write_text(f"x={p['x']}\\n")
    (out / "metrics.json").write_text(json.dumps({"score": score}))
'''


def task_files(name: str = "quick", *, slow: float = 0.0, iterations: int = 1) -> dict[str, str]:
    """The files of a tiny task: maximise -(x-1)^2; the baseline sleeps ``slow`` seconds."""
    spec = {
        "name": name, "goal": "Maximise the score.", "metric": {"name": "score", "direction": "maximize"},
        "entrypoint": "python3 experiment.py", "replicates": 2,
        "params": {"x": {"low": -3.0, "high": 3.0}},
        "budget": {"iterations": iterations, "experiment_timeout_s": 60, "debug_attempts": 1},
        "sandbox": {"cpus": 1.0, "memory": "256m", "network": "none"},
        "search": {"parallel": 1},  # one branch a round: one gate a round, as the service tests expect
    }
    files = {"task.yaml": yaml.safe_dump(spec), "experiment.py": textwrap.dedent(EXPERIMENT).lstrip()}
    if slow:
        files["slow.txt"] = str(slow)
    return files


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LABLOOP = [sys.executable, "-c", "from services.cli import main; main()"]


class LabloopProcess:
    """A ``labloop`` subprocess logging to a file under its own home: spawn, SIGKILL, log tail."""

    home: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None
    log: Path

    def spawn(self, *args: str) -> None:
        """Start ``labloop ARGS`` in this process's environment, its output appended to its log."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*LABLOOP, *args], cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL (no shutdown code runs) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        """The end of the log, for failure messages."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


@dataclass
class Server(LabloopProcess):
    """One ``labloop serve`` process on a home folder."""

    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.home / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        """Start the process and wait until it answers /healthz (its lifespan has run)."""
        self.spawn("serve")
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not answer within {timeout}s:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM (a graceful shutdown), SIGKILL after a while."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, user: str | None = "alice") -> httpx.Client:
        """An HTTP client with ``user``'s token (None: no token)."""
        headers = {"Authorization": f"Bearer {TOKENS[user]}"} if user else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def store(self) -> Store:
        """The server's app database, opened from the test (SQLite in WAL mode allows it)."""
        return open_store(f"sqlite:///{self.home / 'labloop.db'}", migrate=False)


def server_env(home: Path, port: int, **extra: str) -> dict[str, str]:
    """A clean environment for a server: no LLM, two named tokens, a quick scheduler, a cold pool."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABLOOP_") and k != "OPENAI_API_KEY"}
    env.update({
        "LABLOOP_HOME": str(home), "LABLOOP_PORT": str(port),
        "LABLOOP_API_TOKENS": ",".join(f"{n}:{t}" for n, t in TOKENS.items()),
        "LABLOOP_SANDBOX_POOL_SIZE": "0", "LABLOOP_SCHEDULE_TICK_S": "0.3",
        "LABLOOP_MAX_CONCURRENT_JOBS": "2", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


ServerFactory = Callable[..., Server]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Build (not start) servers; every one is killed at the end of the test."""
    made: list[Server] = []

    def make(home: Path | None = None, **extra: str) -> Server:
        folder = home or tmp_path / "home"
        port = free_port()
        server = Server(folder, port, server_env(folder, port, **extra))
        made.append(server)
        return server

    yield make
    for server in made:
        server.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running server shared by the tests of a module."""
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    running = Server(home, port, server_env(home, port)).start()
    yield running
    running.kill()


def upload(client: httpx.Client, files: dict[str, str]) -> dict[str, Any]:
    """Upload a task; fail with the server's message when it refuses."""
    reply = client.post("/v1/tasks", json={"files": files})
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def wait_for(predicate: Callable[[], Any], *, timeout: float = 90.0, what: str = "condition",
             server: Server | None = None) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{server.tail()}" if server else ""))


def job_status(client: httpx.Client, job_id: str) -> str:
    """The job's status as the API reports it."""
    return str(client.get(f"/v1/jobs/{job_id}").json()["status"])
