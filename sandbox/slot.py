"""The per-experiment host folder ("slot") a container's files go in and out through.

    <slots_dir>/<id>/ctl/             -> /labloop    read-only: hand-over FIFO ``go``, ``run.json``
    <slots_dir>/<id>/disk/            the run's disk: a tmpfs of a fixed size and file count
    <slots_dir>/<id>/disk/workspace/  -> /workspace  a copy of the request's workspace (cwd)
    <slots_dir>/<id>/disk/output/     -> /output     $LABLOOP_OUTPUT: metrics.json and artifacts
    <slots_dir>/<id>/inputs/          -> /submission read-only: the request's ``inputs`` (empty without)

Each container mounts only its own slot, so two experiments cannot see each other's files.
``ctl`` and the FIFO belong to the service and are mounted read-only: the experiment can read
its hand-over but can neither replace a control file nor hold the FIFO open for writing (which
would defeat the dead-man switch). ``workspace`` and ``output`` belong to the sandbox uid (or are
world-writable when the service is not root). ``inputs`` belongs to the service and is mounted
read-only: a run may read what another run produced (``$LABLOOP_SUBMISSION``) but never change it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sandbox import disk
from sandbox.result import Limits

CTL_MOUNT = "/labloop"
WORKSPACE_MOUNT = "/workspace"
OUTPUT_MOUNT = "/output"
INPUTS_MOUNT = "/submission"
_UID = 65534
HELLO = b"\x06"  # the first byte on the hand-over FIFO (see sandbox.container.LAUNCHER)


def _give_to_sandbox(path: Path) -> None:
    if os.geteuid() == 0:
        os.chown(path, _UID, _UID, follow_symlinks=False)
    elif not path.is_symlink():
        path.chmod(0o777 if path.is_dir() else 0o666)


class Slot:
    """One experiment's host folder: created before its container, removed after it."""

    def __init__(self, root: Path, *, disk_enforced: bool = False) -> None:
        self.root = root
        self.ctl = root / "ctl"
        self.disk = root / "disk"
        self.workspace = self.disk / "workspace"
        self.output = self.disk / "output"
        self.inputs = root / "inputs"
        self.disk_enforced = disk_enforced
        """True when the kernel caps the run's disk (a tmpfs); else the runner must watch it."""

    @classmethod
    def create(cls, slots_dir: Path, limits: Limits) -> Slot:
        """Make a fresh slot, with its own disk and hand-over FIFO, under ``slots_dir``."""
        slot = cls(slots_dir / uuid.uuid4().hex[:16])
        slot.ctl.mkdir(parents=True)
        slot.ctl.chmod(0o755)  # explicit: the service's umask must not lock the sandbox uid out
        slot.disk.mkdir()
        slot.inputs.mkdir()
        slot.inputs.chmod(0o755)
        try:
            slot.disk_enforced = disk.mount_tmpfs(slot.disk, size_bytes=limits.disk_bytes, files=limits.max_files)
            for folder in (slot.workspace, slot.output):
                folder.mkdir()
                _give_to_sandbox(folder)
            os.mkfifo(slot.ctl / "go")
            (slot.ctl / "go").chmod(0o644)  # the service's: the sandbox uid may only read it
        except BaseException:
            slot.remove()
            raise
        return slot

    def binds(self) -> dict[str, dict[str, str]]:
        """The bind mounts of this slot, in docker-py's format."""
        return {
            str(self.ctl): {"bind": CTL_MOUNT, "mode": "ro"},
            str(self.workspace): {"bind": WORKSPACE_MOUNT, "mode": "rw"},
            str(self.output): {"bind": OUTPUT_MOUNT, "mode": "rw"},
            str(self.inputs): {"bind": INPUTS_MOUNT, "mode": "ro"},
        }

    def fill(self, workspace: Path) -> None:
        """Copy the request's workspace in and hand every copied file to the sandbox uid."""
        shutil.copytree(workspace, self.workspace, symlinks=True, dirs_exist_ok=True)
        for folder, dirs, files in os.walk(self.workspace):
            for name in dirs + files:
                _give_to_sandbox(Path(folder) / name)

    def fill_inputs(self, inputs: Path) -> None:
        """Copy ``inputs`` (regular files and folders only, never a link) in, readable by the sandbox uid.

        The copy stays the service's: the mount is read-only and the sandbox uid may only read it.
        """
        for folder, dirs, files in os.walk(inputs):
            rel = Path(folder).relative_to(inputs)
            for name in dirs:
                source, target = Path(folder) / name, self.inputs / rel / name
                if not source.is_symlink():
                    target.mkdir()
                    target.chmod(0o755)
            for name in files:
                source, target = Path(folder) / name, self.inputs / rel / name
                if source.is_file() and not source.is_symlink():
                    shutil.copyfile(source, target)
                    target.chmod(0o644)

    def record(self, meta: Mapping[str, Any]) -> None:
        """Note which job and experiment this slot runs (pooled containers cannot carry it)."""
        (self.ctl / "run.json").write_text(json.dumps(dict(meta)))

    def open_handover(self) -> int | None:
        """The FIFO's write end once the launcher listens on it, else None (not yet)."""
        try:
            fd = os.open(self.ctl / "go", os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return None
            raise
        os.set_blocking(fd, True)
        os.write(fd, HELLO)  # the launcher waits for this to know its service is there
        return fd

    def wait_handover(self, timeout_s: float, alive: Callable[[], bool]) -> int:
        """Wait until the launcher listens; raise TimeoutError or ChildProcessError (it died)."""
        deadline = time.monotonic() + timeout_s
        next_check = time.monotonic() + 0.5
        while (fd := self.open_handover()) is None:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"the launcher did not start within {timeout_s:.0f} s")
            if now > next_check:
                if not alive():
                    raise ChildProcessError("the container stopped before its launcher started")
                next_check = now + 0.5
            time.sleep(0.002)
        return fd

    @staticmethod
    def hand_over(fd: int, spec: Mapping[str, Any]) -> None:
        """Write the run as one JSON line; raise BrokenPipeError when the launcher is gone.

        The caller keeps ``fd`` open until the run is over (closing it stops the launcher).
        """
        data = json.dumps(dict(spec)).encode() + b"\n"
        while data:
            data = data[os.write(fd, data) :]

    def disk_full(self) -> str | None:
        """Why the run's disk made it fail ("disk cap of N MiB reached"), or None."""
        return disk.disk_use(self.disk).cap_reached() if self.disk_enforced else None

    def remove(self) -> None:
        """Unmount the slot's disk and delete the slot and everything the experiment left in it."""
        if self.disk_enforced or disk.is_mount(self.disk):
            disk.unmount(self.disk)
        shutil.rmtree(self.root, ignore_errors=True)
