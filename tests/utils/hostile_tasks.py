"""Hostile task requirements: a local package whose setup.py leaves a marker, and a listener.

``pkg/setup.py`` writes ``marker`` when anything builds it (pip builds a local project to read
its metadata, even with ``--only-binary=:all:``). :class:`Listener` is a threaded HTTP server on
127.0.0.1 that records every request it gets, so a test can tell the host never fetched from it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

SETUP_PY = """\
from pathlib import Path
Path({marker!r}).write_text("setup.py ran on the host")
from setuptools import setup
setup(name="evilpkg", version="1.0", py_modules=[])
"""


def marker_folder(root: Path) -> Path:
    """A folder anyone may write into (so a build under any uid could leave its marker)."""
    folder = root / "markers"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o777)
    return folder


def hostile_task_files(name: str, requirements: str, marker: Path) -> dict[str, str]:
    """A small valid task whose requirements are ``requirements`` and which carries ``pkg/``."""
    spec = {
        "name": name, "goal": "Maximise the score.", "metric": {"name": "score", "direction": "maximize"},
        "entrypoint": "python3 experiment.py", "budget": {"iterations": 1, "experiment_timeout_s": 60},
    }
    return {
        "task.yaml": yaml.safe_dump(spec),
        "experiment.py": "import json, os\njson.dump({'score': 1.0}, open(os.environ['LABLOOP_OUTPUT'] + "
                         "'/metrics.json', 'w'))\n",
        "requirements.txt": requirements,
        "pkg/setup.py": SETUP_PY.format(marker=str(marker)),
    }


def write_task(folder: Path, files: dict[str, str]) -> Path:
    """Write ``files`` under ``folder``; return it."""
    for relative, text in files.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return folder


class Listener:
    """A loopback HTTP server that answers 404 and remembers every path it was asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                seen.append(self.path)
                self.send_response(404)
                self.end_headers()

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])

    @contextmanager
    def running(self) -> Iterator[Listener]:
        """Serve in a thread until the block ends."""
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
