"""A task's requirements cannot make the host run code, fetch a URL or leak a secret.

The attacks of issue 16 (holes 1 and 2), against a real server process and the real CLI:

- a task carries ``pkg/setup.py``, which leaves a marker when anything builds it, and names it
  as ``evilpkg @ file://<the server's folder of the task>/pkg``, ``./pkg`` or ``file:./pkg``;
- a line fetches ``http://127.0.0.1:PORT/${LABLOOP_API_TOKENS}/...`` from a real listener, or
  points pip's index there with ``--index-url``; ``x @ file:///etc/passwd`` probes host paths.

Each is refused at upload (JSON files and tar.gz alike) with the error shape naming the line,
at job creation (``POST /v1/jobs``, ``POST /v1/schedules``, ``labloop run``) for a task folder
that holds it, and nothing is ever built, fetched or written: no marker, no request at the
listener, no token anywhere under the server's home or in what anybody was told.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from services.store import list_jobs, open_store
from tests.services.conftest import LABLOOP, ROOT, TOKENS, ServerFactory, upload
from tests.utils.hostile_tasks import Listener, hostile_task_files, marker_folder, write_task

SPELLINGS = ("url", "relative", "file")


def _line(spelling: str, folder: Path) -> str:
    return {"url": f"evilpkg @ file://{folder}/pkg", "relative": "./pkg", "file": "file:./pkg"}[spelling]


def _tarball(files: dict[str, str]) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        for name, text in files.items():
            body = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return data.getvalue()


def _refused(reply: httpx.Response, line: str) -> str:
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_requirements", error
    assert f"requirements.txt line 2 ({line!r})" in error["message"], error["message"]
    return str(error["message"])


def _labloop_run(folder: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABLOOP_")}
    env.update({"LABLOOP_HOME": str(home), "LABLOOP_SANDBOX_POOL_SIZE": "0",
                "LABLOOP_API_TOKENS": ",".join(f"{n}:{t}" for n, t in TOKENS.items()),
                "PYTHONPATH": str(ROOT)})
    # Run from the task's own folder: a relative path there would find the package.
    return subprocess.run([*LABLOOP, "run", str(folder), "--strategy", "search", "--iterations", "1",
                           "--auto-approve", "--no-memory", "--json"], capture_output=True, text=True, env=env, cwd=folder,
                          timeout=300, stdin=subprocess.DEVNULL)


def _no_secret_under(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for token in TOKENS.values():
                assert token.encode() not in data, f"{token} leaked into {path}"


@pytest.mark.docker
def test_a_local_package_is_never_built(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server().start()
    store_dir = (server.home / "tasks").resolve()
    markers = marker_folder(tmp_path)
    client = server.client()
    told: list[str] = []
    for spelling in SPELLINGS:
        name = f"evil-{spelling}"
        line = _line(spelling, store_dir / name / "v1")
        files = hostile_task_files(name, f"numpy>=1.20\n{line}\n", markers / f"{spelling}.txt")

        # At upload: the JSON form and the tar.gz form; nothing is stored.
        told.append(_refused(client.post("/v1/tasks", json={"files": files}), line))
        told.append(_refused(client.post("/v1/tasks", content=_tarball(files),
                                         headers={"content-type": "application/gzip"}), line))
        assert client.get(f"/v1/tasks/{name}").status_code == 404
        assert not (store_dir / name / "v1").exists()

        # At job creation: a version stored before requirements were checked, then edited.
        upload(client, {**files, "requirements.txt": "numpy>=1.20\n"})
        (store_dir / name / "v1" / "requirements.txt").write_text(f"numpy>=1.20\n{line}\n")
        told.append(_refused(client.post("/v1/jobs", json={"task": name, "strategy": "search"}), line))
        told.append(_refused(client.post("/v1/schedules", json={"cron": "0 9 * * *", "template": {"task": name}}),
                             line))

        # At job creation on a task folder: `labloop run`, from inside that folder.
        folder = write_task(tmp_path / "cli" / name, {**files, "requirements.txt": ""})
        (folder / "requirements.txt").write_text(f"numpy>=1.20\n{_line(spelling, folder)}\n")
        ran = _labloop_run(folder, tmp_path / "cli-home")
        assert ran.returncode != 0 and ran.stdout == ""
        assert f"requirements.txt line 2 ({_line(spelling, folder)!r})" in ran.stderr, ran.stderr
        assert "URLs, local paths, file: and VCS links are not allowed" in ran.stderr

    # x @ file:///etc/passwd: refused without looking, so the answer says nothing of the host.
    probe = hostile_task_files("probe", "numpy>=1.20\nx @ file:///etc/passwd\n", markers / "probe.txt")
    said = _refused(client.post("/v1/tasks", json={"files": probe}), "x @ file:///etc/passwd")
    missing = _refused(client.post("/v1/tasks", json={"files": {
        **probe, "requirements.txt": "numpy>=1.20\nx @ file:///etc/no-such-file\n"}}), "x @ file:///etc/no-such-file")
    assert said.replace("passwd", "no-such-file") == missing

    assert client.get("/v1/jobs").json() == [] and client.get("/v1/schedules").json() == []
    with open_store(f"sqlite:///{tmp_path / 'cli-home' / 'labloop.db'}") as cli_store:
        assert list_jobs(cli_store) == []
    time.sleep(5)  # no build in the background either
    assert sorted(p.name for p in markers.iterdir()) == []
    assert not [text for text in told if str(server.home) in text.replace(str(store_dir), "")]


@pytest.mark.docker
def test_requirements_that_are_not_utf8_are_refused_at_upload_naming_the_file(make_server: ServerFactory,
                                                                               tmp_path: Path) -> None:
    client = make_server().start().client()
    files = hostile_task_files("latin", "numpy>=1.20\n", tmp_path / "unused")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, body in {**{k: v.encode() for k, v in files.items()},
                           "requirements.txt": "numpy>=1.20\nscikit-learn  # für Müller\n".encode("latin-1")}.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))

    reply = client.post("/v1/tasks", content=archive.getvalue(), headers={"content-type": "application/gzip"})
    surrogate = client.post("/v1/tasks", content=b'{"files": {"task.yaml": "name: x", "requirements.txt": "\\udcff"}}',
                            headers={"content-type": "application/json"})

    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["message"].startswith("requirements.txt is not UTF-8 text (byte 0xfc at offset 29)")
    assert surrogate.status_code == 422, surrogate.text
    assert surrogate.json()["error"]["message"].startswith("requirements.txt is not valid text")
    assert client.get("/v1/tasks/latin").status_code == 404


@pytest.mark.docker
def test_a_listener_is_never_asked_and_no_secret_leaks(make_server: ServerFactory, tmp_path: Path) -> None:
    with Listener().running() as listener:
        port = listener.port
        server = make_server().start()
        client = server.client()
        lines = [f"x @ http://127.0.0.1:{port}/${{LABLOOP_API_TOKENS}}/x-1.0-py3-none-any.whl",
                 f"--index-url http://127.0.0.1:{port}/", f"-i http://127.0.0.1:{port}/",
                 f"--extra-index-url http://127.0.0.1:{port}/", f"--find-links http://127.0.0.1:{port}/",
                 f"x @ http://127.0.0.1:{port}/x-1.0-py3-none-any.whl",
                 'x; python_version > "${LABLOOP_API_TOKENS}"']
        replies = []
        for number, line in enumerate(lines):
            files = hostile_task_files(f"ssrf{number}", f"numpy>=1.20\n{line}\n", tmp_path / "unused")
            replies.append(_refused(client.post("/v1/tasks", json={"files": files}), line))
            replies.append(_refused(client.post("/v1/tasks", content=_tarball(files),
                                                headers={"content-type": "application/gzip"}), line))
            upload(client, {**files, "requirements.txt": "numpy>=1.20\n"})
            stored = (server.home / "tasks" / f"ssrf{number}" / "v1" / "requirements.txt")
            stored.write_text(f"numpy>=1.20\n{line}\n")
            replies.append(_refused(client.post("/v1/jobs", json={"task": f"ssrf{number}"}), line))
            if number < 2:  # the CLI shares the check (a CLI process takes seconds to start)
                folder = write_task(tmp_path / "cli" / f"ssrf{number}", files)
                ran = _labloop_run(folder, tmp_path / "cli-home")
                assert ran.returncode != 0 and f"requirements.txt line 2 ({line!r})" in ran.stderr, ran.stderr
                replies += [ran.stdout, ran.stderr]
        time.sleep(3)
        server.stop()
        assert listener.paths == []

    # The replies, the server's log and every file of both homes hold no token.
    for text in replies:
        for token in TOKENS.values():
            assert token not in text
    _no_secret_under(server.home)
    _no_secret_under(tmp_path / "cli-home")
