"""The scale-out topology as local processes: what deploy/docker-compose.yml runs, without images.

One fresh Postgres database (app tables, graph checkpoints and the work queue), one real
``chroma run`` server, shared task and artifact folders, ``labloop serve`` processes with
``LABLOOP_EXECUTOR=queue`` and ``labloop worker`` processes — each with a LABLOOP_HOME of its
own, as on separate machines. Workers beat every 0.5 s, count as dead after 3 s of silence, and
hand running jobs back 1 s after a SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from services.store import Store, events_after, open_store
from tests.memory.conftest import ChromaServer
from tests.services.conftest import LabloopProcess, Server, free_port, server_env
from tests.utils.databases import postgres_database

NO_GATES = {"idea": "never", "code": "never", "finding": "never"}


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A real Chroma server shared by the module's API and worker processes."""
    root = tmp_path_factory.mktemp("chroma")
    server = ChromaServer(root / "data", root / "server.log")
    server.start()
    yield server
    server.stop()


@dataclass
class Worker(LabloopProcess):
    """One ``labloop worker`` process with its own home (SIGKILL: its heartbeats just stop)."""

    name: str
    home: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.home / f"{self.name}.log"

    def start(self) -> Worker:
        """Start the process (it registers with the queue within a second or two)."""
        self.spawn("worker", "--name", self.name)
        return self

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (a graceful stop); return the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


@dataclass
class Topology:
    """API servers and workers on one Postgres database, one Chroma server and shared folders."""

    root: Path
    database_url: str
    chroma_url: str
    servers: list[Server] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def env(self, home: Path, port: int = 0) -> dict[str, str]:
        """The environment every process shares, plus its own home (and port)."""
        return server_env(
            home, port or free_port(), LABLOOP_DATABASE_URL=self.database_url, LABLOOP_EXECUTOR="queue",
            LABLOOP_CHROMA_URL=self.chroma_url, LABLOOP_TASKS_DIR=str(self.root / "shared" / "tasks"),
            LABLOOP_ARTIFACTS_DIR=str(self.root / "shared" / "runs"), LABLOOP_WORKER_CONCURRENCY="1",
            LABLOOP_WORKER_HEARTBEAT_S="0.5", LABLOOP_WORKER_STALLED_S="3", LABLOOP_WORKER_SHUTDOWN_GRACE_S="1",
        )

    def api(self) -> Server:
        """Start one more API process."""
        home = self.root / f"api{len(self.servers)}"
        port = free_port()
        server = Server(home, port, self.env(home, port)).start()
        self.servers.append(server)
        return server

    def worker(self, metrics_port: int = 0) -> Worker:
        """Start one more worker process (serving its /metrics on ``metrics_port`` unless 0)."""
        name = f"worker{len(self.workers)}"
        home = self.root / name
        env = {**self.env(home), "LABLOOP_WORKER_METRICS_PORT": str(metrics_port)}
        worker = Worker(name, home, env).start()
        self.workers.append(worker)
        return worker

    def store(self) -> Store:
        """The shared app database, opened from the test."""
        return open_store(self.database_url, migrate=False)

    def logs(self) -> str:
        """Every process's log tail, for failure messages."""
        parts = [f"--- api {s.port}\n{s.tail(20)}" for s in self.servers]
        return "\n".join(parts + [f"--- {w.name}\n{w.tail(20)}" for w in self.workers])

    def close(self) -> None:
        """Kill every process this topology started."""
        for worker in self.workers:
            worker.kill()
        for server in self.servers:
            server.kill()


@pytest.fixture
def topology(tmp_path: Path, chroma: ChromaServer, sandbox_image: str) -> Iterator[Topology]:
    """An empty topology on a fresh Postgres database; every process is killed afterwards."""
    with postgres_database() as url:
        made = Topology(tmp_path, url, chroma.url)
        try:
            yield made
        finally:
            made.close()
            _remove_containers_of(made)


def _remove_containers_of(topology: Topology) -> None:
    # A killed worker leaves its experiment's container behind (only its own engine could reap it).
    with topology.store() as store:
        from services.store import list_jobs

        jobs = {job.id for job in list_jobs(store, limit=1000)}
    client = docker.from_env()
    try:
        for container in client.api.containers(all=True, filters={"label": "labloop.job"}):
            if container["Labels"].get("labloop.job") in jobs:
                with suppress(docker.errors.NotFound, docker.errors.APIError):  # being removed already
                    client.api.remove_container(container["Id"], force=True)
    finally:
        client.close()


def events(store: Store, job_id: str, kind: str | None = None) -> list[Any]:
    """The job's event rows (of one kind)."""
    return [e for e in events_after(store, job_id) if kind is None or e.kind == kind]


def finished(client: httpx.Client, job_ids: list[str], topology: Topology, timeout: float = 150) -> dict[str, Any]:
    """Wait until every job has finished; return each job's JSON (fail with every process's log)."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = {j: client.get(f"/v1/jobs/{j}").json() for j in job_ids}
        if all(v["status"] in ("succeeded", "failed", "cancelled") for v in jobs.values()):
            return jobs
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs did not finish: {[(j, v['status']) for j, v in jobs.items()]}\n"
                                 f"{topology.logs()}")
        time.sleep(0.3)
