"""A run's disk: one tmpfs per slot, of a fixed size and number of files, enforced by the kernel.

The slot's ``workspace`` and ``output`` folders live on it, so a write past the size, or a
file past the count, fails inside the experiment with ENOSPC: nothing it does can fill the
host's disk, and nothing polls. The pages are charged to the memory cgroup of the process that
writes them (the container's), so a full disk also counts against the run's memory limit.
Mounting needs root (CAP_SYS_ADMIN); where the service has no such right, the slot stays a
plain folder and the runner falls back to measuring it while the run lasts (a soft cap).
"""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass
from pathlib import Path

_MS_NOSUID = 2
_MS_NODEV = 4
_MNT_DETACH = 2
FULL_SLACK_BYTES = 64 * 1024  # less free room than this: the experiment hit the size cap
_libc = ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(path: Path, *, size_bytes: int, files: int) -> bool:
    """Mount a fresh tmpfs of ``size_bytes`` and ``files`` inodes at ``path``; False if not allowed."""
    options = f"size={size_bytes},nr_inodes={files},mode=0755".encode()
    flags = _MS_NOSUID | _MS_NODEV
    if _libc.mount(b"labloop-slot", os.fsencode(path), b"tmpfs", flags, options) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EPERM, errno.EACCES):
        return False
    raise OSError(code, f"mounting the run's disk at {path}: {os.strerror(code)}")


def unmount(path: Path) -> None:
    """Detach the tmpfs at ``path`` (its pages are freed once no container holds it); idempotent."""
    if _libc.umount2(os.fsencode(path), _MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT, errno.EPERM):
            raise OSError(code, f"unmounting the run's disk at {path}: {os.strerror(code)}")


def is_mount(path: Path) -> bool:
    """True when ``path`` is a mount point (its device differs from its parent's)."""
    try:
        return path.stat().st_dev != path.parent.stat().st_dev
    except OSError:
        return False


@dataclass(frozen=True)
class DiskUse:
    """How full a run's disk is."""

    size_bytes: int
    free_bytes: int
    files: int
    free_files: int

    def cap_reached(self) -> str | None:
        """The reason the run failed for its disk, in words, or None when it had room left."""
        if self.free_bytes < FULL_SLACK_BYTES:
            return f"disk cap of {self.size_bytes / 2**20:g} MiB reached"
        if self.free_files == 0:
            return f"disk cap of {self.files} files reached"
        return None


def disk_use(path: Path) -> DiskUse:
    """The size and free room of the filesystem at ``path``."""
    info = os.statvfs(path)
    return DiskUse(
        size_bytes=info.f_blocks * info.f_frsize,
        free_bytes=info.f_bavail * info.f_frsize,
        files=info.f_files,
        free_files=info.f_favail,
    )
