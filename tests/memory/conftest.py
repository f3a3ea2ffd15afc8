"""Fixtures for the memory tests: a real local Chroma server and the two backends.

``backend`` is parametrised over the embedded ``PersistentClient`` and a real ``chroma run``
server, so one contract test module runs against both. Each test gets its own namespace
(collection prefix) on the shared server and its own folder for the embedded store.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.memory import ChromaMemory, Embedder, LexicalEmbedder, open_memory
from services.settings import Settings

CHROMA = Path(sys.executable).parent / "chroma"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChromaServer:
    """A ``chroma run`` process on 127.0.0.1 with its own data folder; restartable."""

    def __init__(self, path: Path, log: Path) -> None:
        self.path = path
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the server and wait until its heartbeat answers."""
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self._proc.returncode}; see {self._log}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma run did not answer on {self.url} within {timeout_s}s; see {self._log}")

    def stop(self) -> None:
        """Stop the server process we started (and only it)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same folder and port."""
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """One real Chroma server for the whole session, stopped at the end."""
    root = tmp_path_factory.mktemp("chroma-server")
    server = ChromaServer(root / "data", root / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Backend:
    """One way of reaching Chroma, with a namespace of its own for this test."""

    name: str
    home: Path
    namespace: str
    server: ChromaServer | None = None

    @property
    def settings(self) -> Settings:
        """Settings pointing at this backend."""
        return Settings(home=self.home, chroma_url=self.server.url if self.server else None)

    def open(self, embedder: Embedder | None = None) -> ChromaMemory:
        """A new client on this backend (the offline lexical embedder unless told otherwise)."""
        return open_memory(self.settings, embedder=embedder or LexicalEmbedder(), namespace=self.namespace)

    def restart(self) -> None:
        """Restart what holds the data: the server process (embedded data lives in files)."""
        if self.server is not None:
            self.server.restart()


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The embedded PersistentClient and a real ``chroma run`` server, in turn."""
    namespace = "t" + uuid.uuid4().hex[:12]
    if request.param == "server":
        server: ChromaServer = request.getfixturevalue("chroma_server")
        return Backend("server", tmp_path, namespace, server)
    return Backend("embedded", tmp_path, namespace)


@pytest.fixture
def memory(backend: Backend) -> Iterator[ChromaMemory]:
    """An open memory on ``backend`` with the lexical embedder."""
    with backend.open() as mem:
        yield mem


class EmbeddingsServer:
    """An OpenAI-compatible ``/v1/embeddings`` double on 127.0.0.1, so the real ``openai``
    client path runs. Its vectors come from the lexical embedder at 64 dimensions."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        embedder = LexicalEmbedder(dimension=64)
        self.calls: list[list[str]] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                calls.append(texts)
                vectors = embedder.embed(texts)
                payload = json.dumps({
                    "object": "list", "model": body["model"],
                    "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                             for i, v in enumerate(vectors)],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EmbeddingsServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def embeddings_server() -> Iterator[EmbeddingsServer]:
    """A local OpenAI-compatible embeddings endpoint, stopped after the test."""
    with EmbeddingsServer() as server:
        yield server
