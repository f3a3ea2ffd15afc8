"""DockerSandbox: runs one experiment in a fresh, locked-down container (ExperimentRunner).

    with DockerSandbox(connect(), image="labloop-sandbox:latest", work_dir=runs / "sandbox") as sb:
        result = sb.run(RunRequest(workspace, output_dir, "python3 experiment.py", Limits()))

Each run takes a warm container from the pool (or prepares one cold), copies the workspace
into the container's slot, hands the command over, streams the output, kills the container
at the deadline, reads the outputs back and removes the container — in the background, off
the caller's clock. A container runs one experiment and is never reused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from sandbox.container import end_marker, pool_key, run_spec
from sandbox.engine import docker_errors, require_image
from sandbox.environment import ensure_environment
from sandbox.errors import PolicyViolation, SandboxError
from sandbox.facts import ImageFacts, image_facts
from sandbox.network import ensure_egress_network
from sandbox.outputs import collect
from sandbox.policy import SandboxPolicy
from sandbox.pool import ContainerFactory, ContainerPool, Prepared
from sandbox.reaper import Reaper
from sandbox.result import ExperimentResult, Limits, OutputSink, RunRequest, RunStatus
from sandbox.streams import StreamCapture

log = logging.getLogger(__name__)
KILL_GRACE_S = 5.0
STOP_GRACE_S = 2.0
DISK_CHECK_S = 1.0
CANCELLED = "cancelled: the job was cancelled while this experiment ran"


@dataclass
class _Running:
    prepared: Prepared
    job: str | None
    experiment: str | None
    cancelled: bool = False
    killed_at_deadline: bool = False
    over_disk_cap: bool = False
    outlived_command: bool = False


class DockerSandbox:
    """Runs experiments in fresh hardened containers, with a warm pool and a reaper."""

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        image: str,
        work_dir: Path,
        pool_size: int = 2,
        expiry_s: float = 6 * 3600,
        service: str = "labloop",
        reap_interval_s: float | None = 60.0,
        policy: SandboxPolicy | None = None,
        runtime: str | None = None,
        registry: str | None = None,
    ) -> None:
        require_image(client, image)
        self.client = client
        self.image = image
        self.policy = policy or SandboxPolicy()
        self.runtime = runtime
        self.registry = registry
        self.slots_dir = Path(work_dir).resolve() / "slots"
        self.slots_dir.mkdir(parents=True, exist_ok=True)
        self.expiry_s = expiry_s
        self._base_layers = _layers(client, image)
        egress = ensure_egress_network(client) if self.policy.allow_network else None
        self.factory = ContainerFactory(
            client, self.slots_dir, service, expiry_s, egress_network=egress, runtime=runtime
        )
        self.pool = ContainerPool(self.factory, pool_size)
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._cleanup = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-cleanup")
        self.reaper = Reaper(client, self.slots_dir, max_age_s=expiry_s, interval_s=reap_interval_s or 60.0)
        if reap_interval_s is None:
            self.reaper.reap()
        else:
            self.reaper.start()

    def prewarm(self, limits: Limits | None = None, image: str | None = None) -> None:
        """Start keeping warm containers for these limits (the first run is cold otherwise)."""
        self.pool.warm(image or self.image, limits or Limits())

    def check(self, limits: Limits, image: str | None = None) -> None:
        """Raise PolicyViolation unless this engine and server's policy allow ``limits`` and ``image``."""
        if limits.gpus and not self._gpu_runtime():
            raise PolicyViolation(
                f"the task asks for {'all' if limits.gpus < 0 else limits.gpus} GPU(s), but this Docker "
                "engine has no NVIDIA runtime: install the NVIDIA Container Toolkit and run "
                "`nvidia-ctk runtime configure --runtime=docker`, or remove sandbox.gpus"
            )
        self.policy.check(limits)
        if limits.network != "none" and self.runtime == "runsc":
            raise PolicyViolation(
                "experiments under gVisor (LABLOOP_SANDBOX_RUNTIME=runsc) run without network; "
                "use network: none, or the default runtime"
            )
        image = image or self.image
        if self.policy.image_allowed_by_name(image, self.image):
            return
        layers = _layers(self.client, image)
        if layers[: len(self._base_layers)] != self._base_layers:
            raise PolicyViolation(
                f"image {image!r} is neither the sandbox image {self.image!r} nor built from it; "
                "build it FROM the sandbox image or list it in LABLOOP_SANDBOX_ALLOWED_IMAGES"
            )

    def environment(self, requirements: str, log: Callable[[str], None]) -> str:
        """The image of a task environment (the sandbox image plus ``requirements``), built once."""
        return ensure_environment(self.client, requirements, base_image=self.image,
                                  cache_dir=self.slots_dir.parent / "envs", log=log, registry=self.registry)

    def facts(self, image: str | None = None) -> ImageFacts:
        """The Python and package versions of ``image`` (default the sandbox image), asked once per image."""
        return image_facts(self.client, image or self.image, self.slots_dir.parent / "facts")

    def _gpu_runtime(self) -> bool:
        with docker_errors("docker info"):
            return "nvidia" in (self.client.info().get("Runtimes") or {})

    def run(self, request: RunRequest, on_output: OutputSink | None = None) -> ExperimentResult:
        """Run ``request`` to completion (or timeout); user-code failure is data.

        Raises PolicyViolation when the request asks for more than the server's policy allows.
        """
        image = request.image or self.image
        limits = request.limits
        self.check(limits, image)
        job, experiment = request.labels.get("job"), request.labels.get("experiment")
        prepared = self.pool.take(image, limits, min_life_s=limits.timeout_s + 60)
        if prepared is None:
            # A cold container must outlive its own timeout, whatever the default expiry.
            expiry = max(self.expiry_s, limits.timeout_s + 300)
            prepared = self.factory.prepare(image, limits, labels=request.labels, expiry_s=expiry)
        running = _Running(prepared, job, experiment)
        with self._lock:
            self._running[prepared.id] = running
        try:
            return self._run_prepared(running, request, on_output)
        finally:
            with self._lock:
                self._running.pop(prepared.id, None)
            self._cleanup.submit(self.factory.discard, prepared)

    def _run_prepared(
        self, running: _Running, request: RunRequest, on_output: OutputSink | None
    ) -> ExperimentResult:
        prepared, limits = running.prepared, request.limits
        slot = prepared.slot
        slot.record({"job": running.job, "experiment": running.experiment, **request.labels})
        try:
            slot.fill(Path(request.workspace))
            if request.inputs is not None:
                slot.fill_inputs(Path(request.inputs))
        except (OSError, shutil.Error):
            if slot.disk_full() is None:
                raise
            return ExperimentResult(status="failed", error=(
                f"the workspace does not fit the run's disk of {limits.disk_bytes / 2**20:g} MiB; "
                "raise sandbox.disk in task.yaml or make the task's files smaller"
            ))
        marker = end_marker()
        capture = StreamCapture(on_output, limits.stream_cap_bytes, limits.tail_bytes, marker)
        reader = threading.Thread(target=capture.pump, args=(prepared.frames,), daemon=True)
        reader.start()
        started = time.monotonic()
        try:
            prepared.hand_over(run_spec(request.command, request.seed, request.env, marker,
                                         inputs=request.inputs is not None))
        except BrokenPipeError as exc:
            if running.cancelled:  # killed by cancel() before the hand-over: a cancelled run
                reader.join(timeout=KILL_GRACE_S)
                return ExperimentResult(status="failed", error=CANCELLED)
            raise SandboxError(
                f"the sandbox container {prepared.id[:12]} died before its run began; "
                "check `labloop sandbox doctor`"
            ) from exc
        self._watch(running, reader, started + limits.timeout_s, limits)
        duration = time.monotonic() - started
        # Nothing the experiment wrote is read before its container has stopped: from then on
        # no process of it is left to swap a folder for a link or rewrite a file mid-read.
        exit_code, state = self._stop(running, capture)
        outputs = collect(
            slot.output, Path(request.output_dir), metric=request.metric, cap_bytes=limits.output_cap_bytes
        )
        outputs_error = outputs.error if request.metrics_required else None
        result_status, error = self._classify(running, limits, exit_code, state, capture, outputs_error)
        return ExperimentResult(
            status=result_status,
            exit_code=exit_code,
            duration_s=round(duration, 4),
            metrics=outputs.metrics,
            stdout_tail=capture.tail("stdout"),
            stderr_tail=capture.tail("stderr"),
            error=error,
            artifacts=outputs.artifacts,
            notes=outputs.notes,
        )

    def _watch(self, running: _Running, reader: threading.Thread, deadline: float, limits: Limits) -> None:
        # Wait for the end of the run (both end markers), the deadline or a cancel. Where the
        # kernel cannot cap the slot's disk (the service may not mount), what the run adds to
        # the slot is measured now and then instead, and the container killed past the cap.
        slot = running.prepared.slot
        baseline = 0 if slot.disk_enforced else _tree_bytes(slot.disk)
        while reader.is_alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                running.killed_at_deadline = True
                break
            reader.join(timeout=min(remaining, DISK_CHECK_S))
            if (reader.is_alive() and not slot.disk_enforced
                    and _tree_bytes(slot.disk) - baseline > limits.disk_bytes):
                running.over_disk_cap = True
                break
        if reader.is_alive():
            self._kill(running.prepared.id)
            reader.join(timeout=KILL_GRACE_S)

    def _stop(self, running: _Running, capture: StreamCapture) -> tuple[int | None, Mapping[str, Any] | None]:
        """Make sure the container has stopped; its exit code (and, on failure, its state)."""
        prepared = running.prepared
        ended = capture.complete
        # After its end markers the launcher exits at once, and the container with it; one that
        # is still up has had its launcher held by the experiment: it is killed.
        if ended and prepared.init_pidfd is not None:
            if not prepared.init_exited(STOP_GRACE_S):
                running.outlived_command = True
                self._kill(prepared.id)
            elif capture.exit_code == 0 and not running.cancelled:
                return 0, None  # the kernel says nothing of it runs; the launcher said 0
        try:
            exit_code = self._wait(prepared.id, STOP_GRACE_S if ended else KILL_GRACE_S)
        except requests.exceptions.RequestException:
            running.outlived_command = ended
            self._kill(prepared.id)
            with docker_errors("waiting for an experiment container to stop"):
                exit_code = self._wait(prepared.id, KILL_GRACE_S)
        if exit_code == 0 and not running.cancelled:
            return exit_code, None
        return exit_code, self._final_state(prepared.id)

    def _wait(self, cid: str, timeout_s: float) -> int:
        status = self.client.api.wait(cid, timeout=timeout_s)
        return int(status.get("StatusCode", -1))

    def _classify(
        self,
        running: _Running,
        limits: Limits,
        exit_code: int | None,
        state: Mapping[str, Any] | None,
        capture: StreamCapture,
        outputs_error: str | None,
    ) -> tuple[RunStatus, str | None]:
        if running.cancelled:
            return "failed", CANCELLED
        disk_full = running.prepared.slot.disk_full()
        if disk_full is not None or running.over_disk_cap:
            return "failed", disk_full or f"disk cap of {limits.disk_bytes / 2**20:g} MiB reached"
        if running.killed_at_deadline:
            return "timed_out", f"killed at the timeout of {limits.timeout_s:g} s"
        if state is not None and state.get("OOMKilled"):
            return "oom_killed", f"killed for running out of memory (limit {limits.memory}, no swap)"
        if running.outlived_command:
            return "failed", (
                f"killed: the container was still running {STOP_GRACE_S:g} s after its command "
                "ended (a process of the experiment held its launcher)"
            )
        if exit_code != 0:
            hint = _last_line(capture.tail("stderr"))
            return "failed", f"exited with code {exit_code}" + (f": {hint}" if hint else "")
        if outputs_error is not None:
            return "failed", outputs_error
        return "succeeded", None

    def _final_state(self, cid: str) -> Mapping[str, Any] | None:
        try:
            state: Mapping[str, Any] = self.client.api.inspect_container(cid)["State"]
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            log.warning("could not inspect container %s: %s", cid[:12], exc)
            return None
        return state

    def _kill(self, cid: str) -> None:
        # SIGKILL to the container's init ends its whole PID namespace: every process dies.
        try:
            self.client.api.kill(cid)
        except docker.errors.APIError as exc:
            if not isinstance(exc, docker.errors.NotFound) and "is not running" not in str(exc):
                raise
        except requests.exceptions.RequestException as exc:
            with docker_errors("killing an experiment container"):
                raise exc

    def ping(self) -> None:
        """Return when the Docker engine answers; DockerUnavailable (or SandboxError) when it does not."""
        with docker_errors("asking the Docker engine whether it answers"):
            self.client.ping()

    def cancel(self, job_id: str) -> int:
        """Kill the running containers of ``job_id``; their runs return failed/cancelled."""
        with self._lock:
            targets = [r for r in self._running.values() if r.job == job_id]
        for running in targets:
            running.cancelled = True
            self._kill(running.prepared.id)
        return len(targets)

    def running(self) -> list[dict[str, str | None]]:
        """What runs right now: container id, job and experiment of each."""
        with self._lock:
            return [
                {"container": cid, "job": r.job, "experiment": r.experiment}
                for cid, r in self._running.items()
            ]

    def pool_key(self, limits: Limits, image: str | None = None) -> str:
        """The pool key (also the ``labloop.pool`` label) of ``image``/``limits``."""
        return pool_key(image or self.image, limits)

    def close(self) -> None:
        """Stop the reaper and the pool, remove pooled containers, finish cleaning up."""
        self.reaper.stop()
        self.pool.close()
        self._cleanup.shutdown(wait=True)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _layers(client: docker.DockerClient, image: str) -> list[str]:
    with docker_errors(f"inspecting image {image}"):
        return list(client.api.inspect_image(image)["RootFS"]["Layers"])


def _tree_bytes(root: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).lstat().st_size
    return total


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
