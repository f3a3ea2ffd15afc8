"""Containers ready to run: made on demand (cold) or ahead of time (the warm pool).

A *prepared* container is created, started and attached, and its launcher is listening on
the slot's FIFO: handing it a run costs one write. The pool keeps ``size`` of them per key
(image + container-level limits), refills in background threads after every take, and
never hands one out twice. Pooled containers are labelled with service, pool key and expiry
only: which job and experiment they run is recorded in the slot (``run.json``) and in
process, when they are taken.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from sandbox import container
from sandbox.engine import docker_errors
from sandbox.errors import PolicyViolation, SandboxError
from sandbox.result import Limits
from sandbox.slot import Slot

log = logging.getLogger(__name__)
LAUNCH_TIMEOUT_S = 30.0
MAX_KEYS = 4


@dataclass
class Prepared:
    """A started container whose launcher waits for its one run."""

    id: str
    slot: Slot
    key: str
    expires_at: float
    frames: container.Frames
    response: Any
    handover_fd: int | None
    init_pidfd: int | None = None
    """A pidfd of the container's init, when this process can see it (see ``init_exited``)."""
    handed_over: bool = False
    created_at: float = field(default_factory=time.monotonic)

    def hand_over(self, spec: Mapping[str, Any]) -> None:
        """Give the launcher its run (once); raise BrokenPipeError when it is gone."""
        if self.handover_fd is None or self.handed_over:
            raise BrokenPipeError("this container cannot take a run")
        self.handed_over = True
        Slot.hand_over(self.handover_fd, spec)

    def listening(self) -> bool:
        """True while the launcher still holds the FIFO's read end (the container lives)."""
        if self.handover_fd is None or self.handed_over:
            return False
        poller = select.poll()
        poller.register(self.handover_fd, select.POLLOUT)
        return not any(flags & (select.POLLERR | select.POLLHUP) for _, flags in poller.poll(0))

    def init_exited(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the container's init to exit; False if unknown or alive.

        When the init of a PID namespace exits, the kernel has killed every other process in it
        first: from then on nothing of the experiment runs, without asking the engine (whose
        record of the exit lags the kernel by tens of milliseconds).
        """
        if self.init_pidfd is None:
            return False
        poller = select.poll()
        poller.register(self.init_pidfd, select.POLLIN)
        return bool(poller.poll(int(timeout_s * 1000)))

    def close_handover(self) -> None:
        """Close the FIFO's write end and the init's pidfd if they are still open."""
        for name in ("handover_fd", "init_pidfd"):
            fd = getattr(self, name)
            setattr(self, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


class ContainerFactory:
    """Creates prepared containers and disposes of used ones."""

    def __init__(
        self,
        client: docker.DockerClient,
        slots_dir: Path,
        service: str,
        expiry_s: float,
        *,
        egress_network: str | None = None,
        runtime: str | None = None,
    ) -> None:
        self.client = client
        self.slots_dir = slots_dir
        self.service = service
        self.expiry_s = expiry_s
        self.egress_network = egress_network
        self.runtime = runtime

    def prepare(
        self,
        image: str,
        limits: Limits,
        labels: Mapping[str, str] | None = None,
        expiry_s: float | None = None,
    ) -> Prepared:
        """Create, attach and start a container, and wait until its launcher listens."""
        key = container.pool_key(image, limits)
        slot = Slot.create(self.slots_dir, limits)
        all_labels = container.container_labels(self.service, key, expiry_s or self.expiry_s, labels)
        cid = None
        try:
            with docker_errors("creating the experiment container"):
                cid = container.create(
                    self.client, image, limits, slot, all_labels,
                    network=self._network(limits), runtime=self.runtime,
                )
                frames, response = container.attach(self.client, cid)
                self.client.api.start(cid)
            fd = slot.wait_handover(LAUNCH_TIMEOUT_S, lambda: self._running(cid))
            init_pidfd = self._init_pidfd(cid)
        except (TimeoutError, ChildProcessError) as exc:
            logs = self._logs(cid) if cid else ""
            self.dispose(cid, slot)
            raise SandboxError(f"the sandbox container did not become ready: {exc}. {logs}") from exc
        except BaseException:
            self.dispose(cid, slot)
            raise
        expires_at = float(all_labels[container.LABEL_EXPIRES])
        return Prepared(cid, slot, key, expires_at, frames, response, fd, init_pidfd)

    def _network(self, limits: Limits) -> str:
        if limits.network == "none":
            return "none"
        if self.egress_network is None:
            raise PolicyViolation(
                "network is off on this server (LABLOOP_SANDBOX_ALLOW_NETWORK); use network: none"
            )
        return self.egress_network

    def _init_pidfd(self, cid: str) -> int | None:
        # The engine reports the init's pid as the host sees it; this process sees the same pid
        # only when it shares the host's PID namespace (not in a container), so the pid is
        # checked to belong to this container's cgroup before it is trusted.
        try:
            pid = int(self.client.api.inspect_container(cid)["State"]["Pid"])
            pidfd = os.pidfd_open(pid)
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError,
                KeyError, ValueError):
            return None
        try:
            mine = cid in Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            mine = False
        if not mine:
            os.close(pidfd)
            return None
        return pidfd

    def _running(self, cid: str) -> bool:
        try:
            return bool(self.client.api.inspect_container(cid)["State"]["Running"])
        except docker.errors.DockerException:
            return False

    def _logs(self, cid: str) -> str:
        try:
            raw = self.client.api.logs(cid, tail=20)
        except docker.errors.DockerException:
            return ""
        return "Container output: " + raw.decode("utf-8", "replace").strip()[-2000:]

    def dispose(self, cid: str | None, slot: Slot | None) -> None:
        """Remove a container (running or not) and its slot; never raises."""
        if cid is not None:
            try:
                self.client.api.remove_container(cid, force=True)
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                if not isinstance(exc, docker.errors.NotFound):
                    log.warning("could not remove container %s: %s (the reaper will)", cid[:12], exc)
        if slot is not None:
            slot.remove()

    def discard(self, prepared: Prepared) -> None:
        """Dispose of a prepared container that will not run anything."""
        with contextlib.suppress(Exception):  # closing a dead stream may fail; harmless
            prepared.response.close()
        prepared.close_handover()
        self.dispose(prepared.id, prepared.slot)


class ContainerPool:
    """Keeps ``size`` prepared containers per key, refilled by background threads."""

    def __init__(self, factory: ContainerFactory, size: int, refill_threads: int = 2) -> None:
        self.factory = factory
        self.size = size
        self.refill_threads = max(1, min(refill_threads, size))
        self._ready: dict[str, deque[Prepared]] = {}
        self._wanted: dict[str, tuple[str, Limits]] = {}
        self._inflight: dict[str, int] = {}
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def warm(self, image: str, limits: Limits) -> None:
        """Keep containers for ``image`` and ``limits`` ready from now on."""
        if self.size <= 0 or self._closed.is_set():
            return
        key = container.pool_key(image, limits)
        evicted: list[Prepared] = []
        with self._cond:
            if key not in self._wanted and len(self._wanted) >= MAX_KEYS:
                # Keep warm containers for the few most recent kinds of run only.
                oldest = next(iter(self._wanted))
                del self._wanted[oldest]
                evicted = list(self._ready.pop(oldest, ()))
            self._wanted.setdefault(key, (image, limits))
            self._ready.setdefault(key, deque())
            while len(self._threads) < self.refill_threads:
                thread = threading.Thread(target=self._refill_loop, name="sandbox-pool", daemon=True)
                thread.start()
                self._threads.append(thread)
            self._cond.notify_all()
        for prepared in evicted:
            self.factory.discard(prepared)

    def take(self, image: str, limits: Limits, min_life_s: float) -> Prepared | None:
        """A ready container for ``image``/``limits`` that lives ``min_life_s`` more, or None."""
        if self.size <= 0:
            return None
        key = container.pool_key(image, limits)
        self.warm(image, limits)
        found = None
        stale = []
        with self._cond:
            queue = self._ready.get(key, deque())
            while queue:
                candidate = queue.popleft()
                if candidate.expires_at - time.time() > min_life_s and candidate.listening():
                    found = candidate
                    break
                stale.append(candidate)
            self._cond.notify_all()
        for candidate in stale:
            self.factory.discard(candidate)
        return found

    def ready_count(self, image: str, limits: Limits) -> int:
        """How many containers wait for ``image``/``limits`` right now."""
        with self._cond:
            return len(self._ready.get(container.pool_key(image, limits), ()))

    def wait_ready(self, image: str, limits: Limits, timeout_s: float = 30.0) -> bool:
        """Block until the pool for ``image``/``limits`` is full (for benchmarks and tests)."""
        self.warm(image, limits)
        deadline = time.monotonic() + timeout_s
        while self.ready_count(image, limits) < self.size:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _claim(self) -> tuple[str, str, Limits] | None:
        # Called with the lock held: pick a key short of containers, counting those in flight.
        for key, (image, limits) in self._wanted.items():
            if len(self._ready[key]) + self._inflight.get(key, 0) < self.size:
                self._inflight[key] = self._inflight.get(key, 0) + 1
                return key, image, limits
        return None

    def _refill_loop(self) -> None:
        while True:
            with self._cond:
                claim = None
                while not self._closed.is_set() and (claim := self._claim()) is None:
                    self._cond.wait(timeout=5.0)
                if claim is None:
                    return
                if self._closed.is_set():
                    self._inflight[claim[0]] -= 1
                    return
            key, image, limits = claim
            try:
                prepared = self.factory.prepare(image, limits)
            except Exception as exc:  # keep serving cold; retry later
                log.warning("could not refill the sandbox pool: %s", exc)
                with self._cond:
                    self._inflight[key] -= 1
                self._closed.wait(timeout=5.0)
                continue
            with self._cond:
                self._inflight[key] -= 1
                keep = not self._closed.is_set() and key in self._ready  # not evicted meanwhile
                if keep:
                    self._ready[key].append(prepared)
            if not keep:
                self.factory.discard(prepared)

    def close(self) -> None:
        """Stop refilling and remove every container still waiting in the pool."""
        with self._cond:
            self._closed.set()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=LAUNCH_TIMEOUT_S + 5)
        with self._cond:
            leftovers = [p for queue in self._ready.values() for p in queue]
            self._ready.clear()
        for prepared in leftovers:
            self.factory.discard(prepared)
