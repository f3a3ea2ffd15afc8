"""The reaper: removes labelled containers (and slot folders) whose owner is gone or expired.

A service killed mid-run leaves its containers and slots behind. Every container labloop makes
carries ``labloop.expires`` (a Unix time) and ``labloop.owner`` (host, pid and start time of
the process that made it), so any labloop process can clean up after any other, by label,
never by name: at once when the owner was a process of this host that no longer runs, else
once it expires.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from sandbox.container import LABEL_EXPIRES, LABEL_OWNER, LABEL_SERVICE, owner_gone
from sandbox.slot import Slot

log = logging.getLogger(__name__)

EXITED_GRACE_S = 120.0
"""How long an exited sandbox container is kept before the reaper removes it anyway."""


def reap_containers(
    client: docker.DockerClient,
    now: float | None = None,
    service: str | None = None,
    exited_grace_s: float | None = EXITED_GRACE_S,
) -> list[str]:
    """Remove every container (of ``service``, or of any) whose expiry passed or owner is gone.

    A container is single-use, so one that exited more than ``exited_grace_s`` ago (its runner
    has long read its status) is removed too, expiry or not: a killed service's containers stop
    at once (their launcher reads EOF) and should not linger for hours.
    """
    now = time.time() if now is None else now
    removed = []
    wanted = [LABEL_EXPIRES] + ([f"{LABEL_SERVICE}={service}"] if service else [])
    for summary in client.api.containers(all=True, filters={"label": wanted}):
        labels = summary.get("Labels") or {}
        try:
            expires = float(labels.get(LABEL_EXPIRES, "inf"))
        except ValueError:
            continue
        orphaned = owner_gone(labels.get(LABEL_OWNER, ""))
        if expires > now and not orphaned and not _exited_long_ago(client, summary, now, exited_grace_s):
            continue
        try:
            client.api.remove_container(summary["Id"], force=True)
            removed.append(str(summary["Id"]))
        except docker.errors.NotFound:
            pass
    if removed:
        log.info("reaper: removed %d expired, orphaned or finished sandbox container(s)", len(removed))
    return removed


def _exited_long_ago(
    client: docker.DockerClient, summary: dict[str, Any], now: float, grace_s: float | None
) -> bool:
    if grace_s is None or summary.get("State") not in ("exited", "dead"):
        return False
    try:
        finished = client.api.inspect_container(summary["Id"])["State"]["FinishedAt"]
    except docker.errors.NotFound:
        return False
    # Docker reports nanoseconds ("2026-11-27T06:27:33.177266938Z"); Python parses microseconds.
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", finished).replace("Z", "+00:00")
    try:
        return now - datetime.fromisoformat(stamp).timestamp() > grace_s
    except ValueError:
        return False


def slots_in_use(client: docker.DockerClient) -> set[str]:
    """Host folders mounted by labloop containers that still exist."""
    used = set()
    for summary in client.api.containers(all=True, filters={"label": LABEL_EXPIRES}):
        for mount in summary.get("Mounts") or []:
            used.add(str(Path(mount.get("Source", "")).parent))
    return used


def reap_slots(
    slots_dir: Path, max_age_s: float, now: float | None = None, in_use: set[str] | None = None
) -> list[Path]:
    """Remove slot folders older than ``max_age_s`` that no existing container mounts."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    if not slots_dir.is_dir():
        return removed
    for slot in slots_dir.iterdir():
        if in_use and str(slot) in in_use:
            continue
        try:
            old = now - slot.stat().st_mtime > max_age_s
        except OSError:
            continue
        if old and slot.is_dir() and not slot.is_symlink():
            Slot(slot).remove()  # unmounts the slot's disk first
            removed.append(slot)
    return removed


class Reaper:
    """Reaps once when started, then every ``interval_s`` in a daemon thread until stopped."""

    def __init__(
        self, client: docker.DockerClient, slots_dir: Path, max_age_s: float, interval_s: float = 60.0
    ) -> None:
        self.client = client
        self.slots_dir = slots_dir
        self.max_age_s = max_age_s
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reap(self) -> list[str]:
        """One pass over containers and slot folders; return the removed container ids."""
        try:
            removed = reap_containers(self.client)
            in_use = slots_in_use(self.client)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            log.warning("reaper: could not list containers: %s", exc)
            return []
        # A slot is made a moment before its container and removed with it, so one that no
        # container mounts after the grace is what a killed process left behind.
        reap_slots(self.slots_dir, min(self.max_age_s, EXITED_GRACE_S), in_use=in_use)
        return removed

    def start(self) -> None:
        """Reap now, then keep reaping in the background."""
        self.reap()
        self._thread = threading.Thread(target=self._loop, name="sandbox-reaper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.reap()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
