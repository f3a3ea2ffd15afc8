"""Driving one research job through the graph: start, continue after a crash, resume with a decision.

UI-agnostic: the CLI and the HTTP run manager both call :func:`drive_job` and differ only in
their callbacks. ``on_checkpoint(checkpoint)`` returns a decision dict
(``{"action", "reason", "edit", "by"}``) to go on at once, or ``None`` to leave the job
``waiting`` (a later :func:`drive_job` picks the decision recorded with
``store.decide_checkpoint`` and resumes). ``on_progress(progress)`` sees a line per node.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langgraph.types import Command

from agents.context import DEFAULT_GATES, ResearchContext, Strategy
from agents.errors import ConfigError, LabloopError
from agents.graph import build_graph
from agents.llm import OpenAIChatModel
from agents.protocols import ChatModel, ExperimentRunner, Journal, Memory
from agents.report import write_report
from agents.state import ResearchState, initial_state
from agents.task import Task, load_task
from services import store as db
from services.checkpointer import open_checkpointer
from services.errors import Conflict
from services.settings import Settings

CANCELLED_DECISION: Mapping[str, Any] = {"action": "reject", "reason": "the job was cancelled", "by": "system:cancel"}
NO_LLM_NOTICE = ("no LLM endpoint is configured (set LABLOOP_LLM_BASE_URL or LABLOOP_LLM_API_KEY), "
                 "so this job uses the search strategy")


@dataclass(frozen=True)
class Checkpoint:
    """A gate waiting for a human: what to decide on and why it was escalated."""

    id: str
    job_id: str
    kind: str
    payload: dict[str, Any]
    flagged: list[str]


@dataclass(frozen=True)
class Progress:
    """One progress notice: a node started or finished, a notice, the job waiting or ending."""

    job_id: str
    kind: Literal["node_started", "node_finished", "notice", "waiting", "finished"]
    node: str = ""
    iteration: int = 0
    iterations: int = 0
    message: str = ""


@dataclass(frozen=True)
class JobOutcome:
    """Where a drive left the job: finished (with its summary), waiting at a checkpoint, or failed."""

    job_id: str
    status: str
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    checkpoint: Checkpoint | None = None


@dataclass
class Collaborators:
    """The outside world a job reaches: the sandbox, and optionally memory and a model."""

    runner: ExperimentRunner
    memory: Memory | None = None
    model: ChatModel | None = None


OnCheckpoint = Callable[[Checkpoint], Mapping[str, Any] | None]
OnProgress = Callable[[Progress], None]


def chat_model(settings: Settings) -> ChatModel | None:
    """The configured OpenAI-compatible model, or None when no endpoint is configured."""
    if not settings.llm_configured:
        return None
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return OpenAIChatModel(model=settings.llm_model, base_url=settings.llm_base_url, api_key=key,
                           timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries)


def create_research_job(
    store: db.Store, settings: Settings, task_dir: str | Path, *, strategy: Strategy | None = None,
    iterations: int | None = None, gates: Mapping[str, str] | None = None, created_by: str = "cli",
) -> tuple[str, list[str]]:
    """Validate the task and record a queued job; return its id and notices (e.g. no LLM → search)."""
    folder = Path(task_dir).resolve()
    task = load_task(folder)
    notices: list[str] = []
    chosen: Strategy = strategy or ("llm" if settings.llm_configured else "search")
    if chosen == "llm" and not settings.llm_configured:
        chosen = "search"
        notices.append(NO_LLM_NOTICE)
    budget = {"iterations": iterations} if iterations is not None else {}
    row = db.create_job(store, task_name=task.name, task_dir=str(folder), strategy=chosen, budget=budget,
                        gates=dict(gates or {}), created_by=created_by)
    return row.id, notices


def _task_of(job: Any) -> Task:
    task = load_task(job.task_dir)
    overrides = {k: v for k, v in (job.budget or {}).items() if v is not None}
    return task.model_copy(update={"budget": task.budget.model_copy(update=overrides)}) if overrides else task


def drive_job(
    store: db.Store, settings: Settings, job_id: str, parts: Collaborators, *,
    on_checkpoint: OnCheckpoint | None = None, on_progress: OnProgress | None = None,
    notes: Sequence[str] = (), journal: Journal | None = None,
) -> JobOutcome:
    """Run job ``job_id`` from wherever it is (new, crashed, or waiting) until it ends or waits.

    ``journal`` defaults to the app database's; pass the service's own (with its SSE
    listeners) to have events fanned out live. ``notes`` are one-line notices shown once and
    kept in the report (e.g. the no-LLM fallback from :func:`create_research_job`).
    """
    job = db.get_job(store, job_id)
    if job.status in db.FINISHED:
        return JobOutcome(job_id, job.status, dict(job.summary or {}), job.error)
    tell = on_progress or (lambda _p: None)
    journal = journal or db.SqlJournal(store)
    try:
        task = _task_of(job)
        ctx = _context(store, settings, job, task, parts, journal)
        with open_checkpointer(settings) as saver:
            graph = build_graph(saver, debug_attempts=task.budget.debug_attempts)
            config: Any = {"configurable": {"thread_id": job_id}, "recursion_limit": _step_limit(task)}
            step_input: Any = None
            if not graph.get_state(config).values:
                step_input = initial_state(job_id, time.time())
                step_input["notes"] = list(notes)
            for note in notes:
                tell(Progress(job_id, "notice", message=note))
            db.set_job_status(store, job_id, "running")
            while True:
                snapshot = graph.get_state(config)
                if snapshot.interrupts:
                    checkpoint = _checkpoint(store, job_id, snapshot.interrupts[0].value)
                    decision = _decision_for(store, checkpoint, on_checkpoint)
                    if decision is None:
                        db.set_job_status(store, job_id, "waiting")
                        tell(Progress(job_id, "waiting", message=f"waiting at {checkpoint.kind} checkpoint {checkpoint.id}"))
                        return JobOutcome(job_id, "waiting", checkpoint=checkpoint)
                    db.set_job_status(store, job_id, "running")
                    step_input = Command(resume=decision)
                elif step_input is None and not snapshot.next:
                    break
                run_steps(graph, step_input, config, ctx, journal, tell)
                step_input = None
            values: ResearchState = graph.get_state(config).values
    except LabloopError as exc:
        db.set_job_status(store, job_id, "failed", error=str(exc))
        tell(Progress(job_id, "finished", message=f"failed: {exc}"))
        return JobOutcome(job_id, "failed", {"job_id": job_id, "status": "failed", "error": str(exc)}, str(exc))
    except Exception as exc:  # a bug, not a user error: the job fails, the traceback goes up
        db.set_job_status(store, job_id, "failed", error=f"internal error: {exc.__class__.__name__}: {exc}")
        raise
    stop = values.get("stop_reason") or ""
    status = "cancelled" if stop.startswith("cancelled") else "succeeded"
    summary = job_summary(task, values, status=status, experiments=len(db.list_experiments(store, job_id)))
    db.set_job_status(store, job_id, status, summary=summary)
    tell(Progress(job_id, "finished", message=f"{status}: {stop}; report at {values.get('report_path')}"))
    return JobOutcome(job_id, status, summary)


def report_cancelled(store: db.Store, settings: Settings, job_id: str, *, journal: Journal | None = None) -> None:
    """Write the report of a job cancelled while it held no thread (waiting at a checkpoint).

    Its graph never runs again, so the report is made from the state it was paused with.
    """
    job = db.get_job(store, job_id)
    with open_checkpointer(settings) as saver:
        values: ResearchState = build_graph(saver).get_state({"configurable": {"thread_id": job_id}}).values
    if not values:
        return  # cancelled before its first node: nothing to report
    task = _task_of(job)
    state: ResearchState = {**values, "stop_reason": "cancelled by a user while waiting at a checkpoint"}
    path = write_report(task, state, settings.runs_dir / job_id)
    state["report_path"] = str(path)
    summary = job_summary(task, state, status="cancelled", experiments=len(db.list_experiments(store, job_id)))
    db.set_job_status(store, job_id, "cancelled", summary=summary)
    (journal or db.SqlJournal(store)).emit(job_id, "report", {"path": str(path)})


def _context(store: db.Store, settings: Settings, job: Any, task: Task, parts: Collaborators,
             journal: Journal) -> ResearchContext:
    if job.strategy == "llm" and parts.model is None:
        raise ConfigError("this job uses the llm strategy but no model is configured; set LABLOOP_LLM_BASE_URL")
    return ResearchContext(
        job_id=job.id, task=task, task_dir=Path(job.task_dir), runner=parts.runner, journal=journal,
        runs_dir=settings.runs_dir, strategy="llm" if job.strategy == "llm" else "search", model=parts.model,
        memory=parts.memory, gates={**DEFAULT_GATES, **(job.gates or {})},
        price_per_1k_tokens=settings.llm_price_per_1k_tokens,
        should_stop=lambda: _cancel_requested(store, job.id),
    )


def _step_limit(task: Task) -> int:
    """Graph steps a whole job may take: per iteration ~8 nodes, each debug round 3, each paired replicate 2."""
    per_iteration = 10 + 3 * task.budget.debug_attempts + 2 * task.replicates
    return 100 + task.budget.iterations * per_iteration


def _cancel_requested(store: db.Store, job_id: str) -> bool:
    return bool(db.get_job(store, job_id).cancel_requested)


def run_steps(graph: Any, step_input: Any, config: Any, ctx: ResearchContext, journal: Journal,
              tell: OnProgress) -> None:
    """Stream the graph until it ends or interrupts; journal each node's start and end."""
    iterations = ctx.task.budget.iterations
    resumed = isinstance(step_input, Command)  # the gate that interrupted runs again from its start
    iteration = 0
    for chunk in graph.stream(step_input, config, context=ctx, durability="sync", stream_mode="tasks"):
        name = chunk.get("name", "")
        if "input" in chunk:
            iteration = int((chunk.get("input") or {}).get("iteration", 0))
            journal.emit(ctx.job_id, "node", {"node": name, "phase": "started", "iteration": iteration,
                                              "resumed": resumed})
            tell(Progress(ctx.job_id, "node_started", node=name, iteration=iteration, iterations=iterations,
                          message="resumed with the decision" if resumed else ""))
            resumed = False
        else:
            error = str(chunk["error"]) if chunk.get("error") is not None else None
            phase = "interrupted" if chunk.get("interrupts") else "failed" if error else "finished"
            journal.emit(ctx.job_id, "node", {"node": name, "phase": phase, "iteration": iteration, "error": error})
            tell(Progress(ctx.job_id, "node_finished", node=name, iteration=iteration, iterations=iterations,
                          message=error or (phase if phase != "finished" else "")))


def _checkpoint(store: db.Store, job_id: str, value: Mapping[str, Any]) -> Checkpoint:
    checkpoint = Checkpoint(id=str(value["checkpoint_id"]), job_id=job_id, kind=str(value["kind"]),
                            payload=dict(value.get("payload") or {}), flagged=list(value.get("flagged") or []))
    db.create_checkpoint(store, checkpoint_id=checkpoint.id, job_id=job_id, kind=checkpoint.kind,
                         payload=checkpoint.payload, flagged=checkpoint.flagged)
    return checkpoint


def _decision_for(store: db.Store, checkpoint: Checkpoint, on_checkpoint: OnCheckpoint | None) -> dict[str, Any] | None:
    """The decision already recorded for ``checkpoint``, else the handler's (recorded now), else None."""
    stored = db.get_decision(store, checkpoint.id)
    if stored is None:
        # A job cancelled while it waits is let go with a rejection, so it ends through decide and report.
        cancelled = _cancel_requested(store, checkpoint.job_id)
        answer = CANCELLED_DECISION if cancelled else on_checkpoint(checkpoint) if on_checkpoint else None
        if answer is not None:
            with contextlib.suppress(Conflict):  # decided elsewhere meanwhile: that decision wins
                db.decide_checkpoint(store, checkpoint.id, action=str(answer["action"]),
                                     reason=str(answer.get("reason") or ""), edit=answer.get("edit") or None,
                                     by=str(answer.get("by") or "cli"))
            stored = db.get_decision(store, checkpoint.id)
    if stored is None:
        return None
    return {"action": stored.action, "reason": stored.reason, "edit": stored.edit or {}, "by": stored.decided_by,
            "at": stored.decided_at.isoformat(timespec="seconds")}


def job_summary(task: Task, state: ResearchState, *, status: str, experiments: int) -> dict[str, Any]:
    """``{job_id, status, baseline, best, experiments, findings, report, ...}`` of a finished job."""
    metric = task.metric.name
    base, best = state.get("baseline") or {}, state.get("best") or {}
    return {
        "job_id": state["job_id"],
        "status": status,
        "baseline": {metric: base.get("value")},
        "best": {"metrics": best.get("metrics", {}), "params": best.get("params", {}),
                 "experiment_id": best.get("experiment_id")},
        "experiments": experiments,
        "findings": [
            {k: f[k] for k in ("iteration", "title", "summary", "experiment_id", "value", "params", "mean_gain",
                               "stderr", "n", "accepted", "rule")}
            for f in state.get("findings", [])
        ],
        "report": state.get("report_path"),
        "stop_reason": state.get("stop_reason"),
        "llm_tokens": state.get("tokens", 0),
        "cost_usd": round(state.get("cost_usd", 0.0), 6),
    }
