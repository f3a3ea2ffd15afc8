"""One locked-down container: its hardening, its labels and the launcher it runs.

Every container starts a tiny launcher (``python3 -S -c LAUNCHER``) that blocks on the slot's
hand-over FIFO. The host writes the run (command, environment, end marker) into the FIFO; the
launcher forks the command, waits for it, writes the end marker and exits with the command's
status: the engine reports that as the container's exit code (docker-init passes it on), so no
file the experiment could write decides the run's status. A container can therefore be created
and started *before* anyone knows which experiment it will run (the warm pool), and still runs exactly one experiment: when the launcher exits,
the container stops and is removed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.types

from sandbox.result import Limits
from sandbox.slot import CTL_MOUNT, HELLO, INPUTS_MOUNT, OUTPUT_MOUNT, WORKSPACE_MOUNT, Slot

SANDBOX_UID = 65534
LABEL_SERVICE = "labloop.service"
LABEL_EXPIRES = "labloop.expires"
LABEL_POOL = "labloop.pool"
LABEL_JOB = "labloop.job"
LABEL_EXPERIMENT = "labloop.experiment"
LABEL_OWNER = "labloop.owner"
LOG_MAX_SIZE = "1m"
HELLO_TIMEOUT_S = 60.0

# Runs as the container's main process (under docker-init), standard library only.
# - The service opens the FIFO's write end and says hello at once; a launcher nobody greets
#   within HELLO_TIMEOUT_S exits (its service died while starting it).
# - The run arrives later as one JSON line; the command is forked and waited for; then the
#   end marker goes to stdout and stderr (see sandbox.streams), and the launcher exits with
#   the command's status (128 + N when signal N killed it): the container's exit code.
# - The service keeps the write end open while the run lasts: if the service dies, the
#   launcher reads EOF and exits, and with it (docker-init being PID 1) the whole container,
#   so a dead service's experiments stop at once.
LAUNCHER = f"""
import ctypes, json, os, select, sys, threading
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: the experiment cannot read our memory
fd = os.open('{CTL_MOUNT}/go', os.O_RDONLY | os.O_NONBLOCK)
poller = select.poll()
poller.register(fd, select.POLLIN)
if not poller.poll({int(HELLO_TIMEOUT_S * 1000)}):
    sys.exit(4)
os.set_blocking(fd, True)
fifo = os.fdopen(fd, 'rb', buffering=0)
if fifo.read(1) != {HELLO!r}:
    sys.exit(3)
line = b''
while not line.endswith(b'\\n'):
    chunk = fifo.read(65536)
    if not chunk:
        sys.exit(3)
    line += chunk
spec = json.loads(line)
pid = os.fork()
if pid == 0:
    try:
        os.chdir(spec['cwd'])
        os.execve('/bin/sh', ['/bin/sh', '-c', spec['command']], spec['env'])
    finally:
        os._exit(127)
def watch():
    while fifo.read(65536):
        pass
    os._exit(125)
threading.Thread(target=watch, daemon=True).start()
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
code = code if code >= 0 else 128 - code
end = spec['end_marker'].encode() + b'%03d' % code
os.write(1, end)
os.write(2, end)
os._exit(code)
"""

# The environment a command sees: these basics, then the request's env, then LABLOOP_SEED
# and LABLOOP_OUTPUT (and LABLOOP_SUBMISSION for a run given inputs). Nothing of the host's environment is ever passed on.
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def pool_key(image: str, limits: Limits) -> str:
    """Containers are interchangeable when image and container-level limits are equal."""
    fields = (
        image, limits.cpus, limits.memory, limits.pids, limits.network, limits.tmpfs_size,
        limits.disk_bytes, limits.max_files, limits.gpus,
    )
    return hashlib.sha256(repr(fields).encode()).hexdigest()[:12]


def container_labels(
    service: str, key: str, expiry_s: float, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Labels every labloop container carries, plus ``extra`` (job, experiment, ...)."""
    labels = {
        LABEL_SERVICE: service,
        LABEL_POOL: key,
        LABEL_EXPIRES: str(int(time.time() + expiry_s)),
        LABEL_OWNER: owner_id(),
    }
    for name, value in (extra or {}).items():
        labels[name if name.startswith("labloop.") else f"labloop.{name}"] = str(value)
    return labels


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None when there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


def owner_id(pid: int | None = None) -> str:
    """``host:pid:start`` of the process that creates containers (pid and start: reuse-proof)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start(pid)}"


def owner_gone(owner: str) -> bool:
    """True when ``owner`` names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host's process: its own reaper (or the expiry) will do
    return process_start(int(pid)) != start


def end_marker() -> bytes:
    """A fresh per-run marker the launcher writes, with the exit status, after the command.

    The command never sees it: it is not in the command's environment, and the launcher that
    holds it is not dumpable (its memory and descriptors are closed to the sandbox uid).
    """
    return b"\x00labloop:end:" + secrets.token_hex(12).encode() + b":"


def run_spec(command: str, seed: int, env: Mapping[str, str], marker: bytes, *, inputs: bool = False) -> dict[str, Any]:
    """What the host hands to the launcher: command, cwd, whole environment and end marker."""
    full = {**BASE_ENV, **env, "LABLOOP_SEED": str(seed), "LABLOOP_OUTPUT": OUTPUT_MOUNT}
    if inputs:
        full["LABLOOP_SUBMISSION"] = INPUTS_MOUNT
    return {"command": command, "cwd": WORKSPACE_MOUNT, "env": full, "end_marker": marker.decode()}


def create(
    client: docker.DockerClient,
    image: str,
    limits: Limits,
    slot: Slot,
    labels: Mapping[str, str],
    *,
    network: str = "none",
    runtime: str | None = None,
) -> str:
    """Create (not start) the hardened container for ``slot``; return its id.

    ``network`` is the Docker network it joins ("none", or labloop's isolated bridge when the
    policy allows network); ``runtime`` an OCI runtime such as gVisor's "runsc" (None: the
    engine's default).
    """
    api = client.api
    host_config = api.create_host_config(
        binds=slot.binds(),
        read_only=True,
        tmpfs={"/tmp": f"size={limits.tmpfs_size},nr_inodes={limits.max_files},mode=1777"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        init=True,
        network_mode=network,
        runtime=runtime,
        device_requests=device_requests(limits.gpus),
        pids_limit=limits.pids,
        mem_limit=limits.memory,
        memswap_limit=limits.memory,
        nano_cpus=int(limits.cpus * 1e9),
        log_config={"type": "json-file", "config": {"max-size": LOG_MAX_SIZE, "max-file": "1"}},
    )
    created = api.create_container(
        image,
        command=["python3", "-S", "-c", LAUNCHER],  # -S: the launcher needs the stdlib only
        user=f"{SANDBOX_UID}:{SANDBOX_UID}",
        working_dir=WORKSPACE_MOUNT,
        environment={"HOME": "/tmp", "PATH": BASE_ENV["PATH"]},
        labels=dict(labels),
        host_config=host_config,
    )
    return str(created["Id"])


def device_requests(gpus: int) -> list[docker.types.DeviceRequest] | None:
    """The engine's request for ``gpus`` NVIDIA GPUs (-1: all of them), or None for none."""
    if gpus == 0:
        return None
    return [docker.types.DeviceRequest(driver="nvidia", count=gpus, capabilities=[["gpu"]])]


Frames = Iterator[tuple[bytes | None, bytes | None]]


def attach(client: docker.DockerClient, container_id: str) -> tuple[Frames, Any]:
    """Open the container's (stdout, stderr) stream; return the frames and the response.

    docker-py's ``attach()`` inspects the container first (one more round trip on the hot
    path) and keeps the client's read timeout on a stream that may rightly stay silent for
    hours, so this makes the same request with the timeout removed.
    """
    api = client.api
    response = api._post(
        api._url("/containers/{0}/attach", container_id),
        headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        params={"logs": 0, "stdout": 1, "stderr": 1, "stream": 1},
        stream=True,
    )
    api._disable_socket_timeout(api._get_raw_response_socket(response))
    frames: Frames = api._read_from_socket(response, stream=True, tty=False, demux=True)
    return frames, response
