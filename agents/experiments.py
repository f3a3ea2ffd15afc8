"""One experiment: a workspace made from the task folder plus changes, run in the sandbox, journaled.

Experiment ids are deterministic (``{job}-{node}-{role}-{n}``, ``node`` the tree node it
belongs to): a graph node re-run after a crash writes the same records again instead of new ones. A finished run leaves
``result.json`` beside its output; a re-run node finds it and does not run the experiment
again, while a run that was in flight (no result yet) is run again from a fresh workspace.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import grading
from agents.context import ResearchContext
from agents.errors import InvalidInput
from agents.protected import hidden_files, under
from agents.protocols import ExperimentRecord, ExperimentRole
from agents.state import Run
from agents.workspace_paths import workspace_problem
from sandbox.result import ExperimentResult, RunRequest

PARAMS_FILE = "params.json"
RESULT_FILE = "result.json"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", "output", ".labloop")


def _skipping(task_dir: Path, hidden: tuple[str, ...]) -> Callable[[str, list[str]], set[str]]:
    """copytree's ignore: the usual clutter, and every hidden file or folder."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(_SKIP(folder, names))
        rel = Path(folder).relative_to(task_dir).as_posix()
        return skipped | {n for n in names if under(n if rel == "." else f"{rel}/{n}", hidden)}
    return ignore


def experiment_id(job_id: str, node: str, role: ExperimentRole, n: int) -> str:
    """The deterministic id of one experiment of a job (of tree node ``node``)."""
    return f"{job_id}-{node}-{role}-{n}"


SOURCE_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".json", ".txt", ".md", ".cfg", ".toml", ".sh"})
SOURCE_LIMIT_BYTES = 64_000


def _task_paths(task_dir: Path) -> Iterator[tuple[str, Path]]:
    """Every task file an LLM may know of, as (relative path, path): one place decides what is visible.

    The grader's files (``evaluation.files``) are never among them.
    """
    hidden = hidden_files(task_dir)
    for path in sorted(task_dir.rglob("*")):
        rel = path.relative_to(task_dir).as_posix()
        if not path.is_file() or "__pycache__" in rel or rel.startswith(".") or under(rel, hidden):
            continue
        yield rel, path


def source_files(task_dir: Path, *, limit_bytes: int = SOURCE_LIMIT_BYTES) -> dict[str, str]:
    """The task's text source files (relative path → text), what an LLM may read and edit."""
    files: dict[str, str] = {}
    for rel, path in _task_paths(task_dir):
        if path.suffix not in SOURCE_SUFFIXES:
            continue
        if path.stat().st_size <= limit_bytes:
            files[rel] = path.read_text(encoding="utf-8", errors="replace")
    return files


@dataclass(frozen=True)
class DataFile:
    """A task file the prompt summarises instead of showing: its size, its first bytes as text, its lines."""

    size: int
    head: str  # empty for a binary file
    lines: int | None  # None: a binary file, or more than could be counted cheaply
    binary: bool = False


def data_files(task_dir: Path, *, head_bytes: int = 32_000, count_bytes: int = 32_000_000,
               most: int = 50) -> dict[str, DataFile]:
    """The visible task files :func:`source_files` leaves out (data, large or binary files), each
    with a bounded head; at most ``most`` of them. Lines are counted while the files read in all
    stay under ``count_bytes`` (every prompt lists them, so the cost stays bounded)."""
    files: dict[str, DataFile] = {}
    left = count_bytes
    for rel, path in _task_paths(task_dir):
        if len(files) >= most:
            break
        size = path.stat().st_size
        if path.suffix in SOURCE_SUFFIXES and size <= SOURCE_LIMIT_BYTES:
            continue
        with path.open("rb") as handle:
            head = handle.read(head_bytes)
            binary = b"\0" in head
            lines: int | None = None
            if not binary and size <= left:
                left -= size
                lines = head.count(b"\n") + sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        text = "" if binary else head.decode("utf-8", errors="replace")
        files[rel] = DataFile(size=size, head=text, lines=lines, binary=binary)
    return files


def diff_of(task_dir: Path, files: Mapping[str, str], params: Mapping[str, Any]) -> str:
    """A unified diff of the changed files and params.json against the task folder.

    A hidden (grader's) file counts as absent: its content never reaches a diff.
    """
    hidden = hidden_files(task_dir)
    changed = dict(files)
    if params:
        changed[PARAMS_FILE] = json.dumps(dict(params), indent=2, sort_keys=True) + "\n"
    chunks: list[str] = []
    for rel in sorted(changed):
        old = "" if under(rel, hidden) else _original_text(task_dir, rel)
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True), changed[rel].splitlines(keepends=True),
                fromfile=f"a/{rel}", tofile=f"b/{rel}",
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def _original_text(task_dir: Path, rel: str) -> str:
    # ``rel`` may come from a model or a human edit: a name the file system refuses has no original.
    try:
        original = task_dir / rel
        return original.read_text(encoding="utf-8", errors="replace") if original.is_file() else ""
    except (OSError, ValueError):
        return ""


def materialize(task_dir: Path, workspace: Path, *, files: Mapping[str, str], params: Mapping[str, Any]) -> None:
    """Make ``workspace`` a fresh copy of the task folder with ``files`` and ``params`` applied.

    The grader's files (``evaluation.files``) are never copied.
    """
    if workspace.exists():
        shutil.rmtree(workspace)
    shutil.copytree(task_dir, workspace, ignore=_skipping(task_dir, hidden_files(task_dir)))
    root = workspace.resolve()
    for rel, text in files.items():
        target = (workspace / rel).resolve()
        if not target.is_relative_to(root):
            raise InvalidInput(f"refusing to write {rel!r}: it points outside the workspace; use a relative path")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if params:
        (workspace / PARAMS_FILE).write_text(json.dumps(dict(params), sort_keys=True), encoding="utf-8")


def run_experiment(
    ctx: ResearchContext, *, node: str, iteration: int, role: ExperimentRole, n: int, seed: int,
    params: Mapping[str, Any], files: Mapping[str, str], idea_title: str = "",
) -> Run:
    """Run (or, if it already finished before a crash, recall) one experiment; return its summary."""
    exp_id = experiment_id(ctx.job_id, node, role, n)
    exp_dir = ctx.job_dir / exp_id
    output_dir = exp_dir / "output"
    diff = diff_of(ctx.task_dir, files, params)
    record = ExperimentRecord(
        id=exp_id, job_id=ctx.job_id, iteration=iteration, role=role, params=dict(params),
        seed=seed, status="running", idea_title=idea_title, diff=diff, output_dir=str(output_dir),
    )
    cached = exp_dir / RESULT_FILE
    if cached.is_file():
        result = ExperimentResult.model_validate_json(cached.read_text(encoding="utf-8"))
    elif (refused := workspace_problem(files, ctx.task_dir)) is not None:  # a path no workspace can hold: this attempt fails, the job goes on
        result = ExperimentResult(status="failed", error=refused)
    else:
        own_file = exp_dir / grading.OWN_RESULT_FILE
        if own_file.is_file():  # it ran before a crash; only its grading was cut short
            own = ExperimentResult.model_validate_json(own_file.read_text(encoding="utf-8"))
        else:
            own = _run_own(ctx, record, exp_dir, files=files, params=params, seed=seed)
            if ctx.task.evaluation is not None:
                _write_atomically(own_file, own.model_dump_json())
        if ctx.task.evaluation is not None:
            with _recorded_failed_on_error(ctx, record):
                result = _grade(ctx, exp_id, exp_dir, own, seed=seed)
        else:
            result = own
        _write_atomically(cached, result.model_dump_json())
    final = ExperimentRecord(**{**record.__dict__, "status": result.status, "result": result})
    ctx.journal.record_experiment(final)
    value = result.metrics.get(ctx.task.metric.name) if result.succeeded else None
    summary = Run(
        experiment_id=exp_id, iteration=iteration, node=node, role=role, seed=seed,
        params=dict(params), files=sorted(files), idea_title=idea_title,
        status=result.status if value is not None or not result.succeeded else "failed",
        value=value, metrics=dict(result.metrics), duration_s=round(result.duration_s, 3),
        error=result.error, artifacts=[a.path for a in result.artifacts][:20],
        stdout_tail=result.stdout_tail[-4000:], stderr_tail=result.stderr_tail[-4000:],
    )
    if result.self_reported is not None:
        summary["self_reported"] = dict(result.self_reported)
    if (suspicious := grading.gap(ctx.task, result, ctx.grader_gap)) is not None:
        summary["grader_gap"] = suspicious
    ctx.journal.emit(ctx.job_id, "experiment", {
        "id": exp_id, "status": summary["status"], "value": value, "error": result.error,
        "stdout_tail": result.stdout_tail[-2000:], "stderr_tail": result.stderr_tail[-2000:],
    })
    return summary


def _run_own(ctx: ResearchContext, record: ExperimentRecord, exp_dir: Path, *, files: Mapping[str, str],
             params: Mapping[str, Any], seed: int) -> ExperimentResult:
    """The experiment itself, from a fresh workspace (the grader's files never in it)."""
    workspace, output_dir = exp_dir / "workspace", Path(record.output_dir)
    materialize(ctx.task_dir, workspace, files=files, params=params)
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    (exp_dir / "changes.diff").write_text(record.diff, encoding="utf-8")
    ctx.journal.record_experiment(record)
    ctx.journal.emit(ctx.job_id, "experiment", {"id": record.id, "status": "running", "role": record.role})
    relay = OutputRelay(ctx, record.id)
    request = RunRequest(
        workspace=workspace, output_dir=output_dir, command=ctx.task.entrypoint,
        limits=ctx.task.sandbox.limits(ctx.task.budget.experiment_timeout_s), seed=seed,
        metric=ctx.task.metric.name, labels={"job": ctx.job_id, "experiment": record.id},
        image=ctx.task.sandbox.image, metrics_required=ctx.task.evaluation is None,
    )
    try:
        with _recorded_failed_on_error(ctx, record):
            return ctx.runner.run(request, on_output=relay)
    finally:
        relay.flush()


@contextlib.contextmanager
def _recorded_failed_on_error(ctx: ResearchContext, record: ExperimentRecord) -> Iterator[None]:
    # The job ends (or retries the node) on an infrastructure failure; the record must
    # not stay "running" meanwhile, or a listing would show a run nobody runs.
    try:
        yield
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the run's own error is the one to raise
            ctx.journal.record_experiment(ExperimentRecord(**{
                **record.__dict__, "status": "failed",
                "result": ExperimentResult(status="failed", error=f"the sandbox failed: {exc}"[:500]),
            }))
        raise


def _grade(ctx: ResearchContext, exp_id: str, exp_dir: Path, own: ExperimentResult, *, seed: int) -> ExperimentResult:
    """Run the task's grader on the experiment's outputs in its own sandbox run."""
    if own.succeeded:
        ctx.journal.emit(ctx.job_id, "experiment", {"id": exp_id, "status": "grading"})
    return grading.grade(ctx.runner, ctx.task, ctx.task_dir, own, submission=exp_dir / "output",
                         work_dir=exp_dir / grading.GRADER_DIR, seed=seed, image=ctx.task.sandbox.image,
                         labels={"job": ctx.job_id, "experiment": f"{exp_id}-grader"})


class OutputRelay:
    """Forwards an experiment's output to the journal in batches (every 4 KB or half second, per stream)."""

    def __init__(self, ctx: ResearchContext, exp_id: str, *, max_bytes: int = 4096, max_wait_s: float = 0.5) -> None:
        self.ctx, self.exp_id = ctx, exp_id
        self.max_bytes, self.max_wait_s = max_bytes, max_wait_s
        self._pending: dict[str, list[str]] = {}
        self._since = time.monotonic()
        self._lock = threading.Lock()  # the sandbox calls from its reader thread; flush from ours

    def __call__(self, stream: str, text: str) -> None:
        with self._lock:
            self._pending.setdefault(stream, []).append(text)
            size = sum(len(t) for chunks in self._pending.values() for t in chunks)
            due = size >= self.max_bytes or time.monotonic() - self._since >= self.max_wait_s
        if due:
            self.flush()

    def flush(self) -> None:
        """Emit what is pending, one event per stream."""
        with self._lock:
            pending, self._pending, self._since = self._pending, {}, time.monotonic()
        for stream, chunks in pending.items():
            self.ctx.journal.emit(self.ctx.job_id, "output", {"id": self.exp_id, "stream": stream,
                                                              "text": "".join(chunks)})


def brief(summary: Run) -> Run:
    """An experiment summary without its output tails: what the job's list of experiments keeps."""
    kept = dict(summary)
    kept.pop("stdout_tail", None)
    kept.pop("stderr_tail", None)
    return Run(**kept)  # type: ignore[typeddict-item]


def output_tail(run: Run, max_chars: int = 4000) -> str:
    """The end of a run's stdout and stderr, labelled, for prompts and the tree."""
    parts = [(name, run.get(key, "")) for name, key in (("stdout", "stdout_tail"), ("stderr", "stderr_tail"))]
    text = "\n".join(f"[{name}]\n{tail}" for name, tail in parts if tail)
    return text[-max_chars:]


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
