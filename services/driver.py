"""The driver: runs one job's research graph until it pauses at a checkpoint or ends. It only drives.

    drive(job) ─► Paused(checkpoint)      a gate interrupted and nobody has decided it yet
              └─► Finished(status, ...)   the graph ended (succeeded, or cancelled at decide),
                                          or failed on a labloop error (a bug raises)

It reads what it needs (the job, a decision recorded for the checkpoint it is paused at, the
cancel flag) and writes nothing of the job's life: the caller hands the outcome to
:class:`services.lifecycle.Lifecycle`. The graph itself journals its experiments and events.
A job paused at a checkpoint whose decision is already recorded resumes with it, so a resume
needs nothing but the job; several branches paused at once are resumed one decision at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langgraph.types import Command, Interrupt

from agents.checkpoints import Decided
from agents.context import DEFAULT_GATES, ResearchContext
from agents.drafting import from_data
from agents.errors import ConfigError, DockerUnavailable, InvalidTask, LabloopError
from agents.graph import build_graph
from agents.protocols import ImageFacts, Journal
from agents.report import write_report
from agents.standing import standing
from agents.state import ResearchState, initial_state
from agents.task import Task, load_task
from services.checkpointer import open_checkpointer, prune
from services.collaborators import Collaborators
from services.outcomes import Checkpoint, Finished, Paused
from services.settings import Settings
from services.statuses import FINISHED
from services.store import Store, get_decision, get_job, list_experiments
from services.store.models import DecisionRow, JobRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """One progress notice: a node started or finished, a notice, the job waiting or ending."""

    job_id: str
    kind: Literal["node_started", "node_finished", "notice", "waiting", "finished"]
    node: str = ""
    iteration: int = 0
    iterations: int = 0
    message: str = ""


OnProgress = Callable[[Progress], None]


def _quiet(_progress: Progress) -> None:
    return None


def _never() -> bool:
    return False


class ResearchDriver:
    """Drives jobs through the research graph in the calling thread."""

    def __init__(self, store: Store, settings: Settings, parts: Collaborators, journal: Journal) -> None:
        self.store = store
        self.settings = settings
        self.parts = parts
        self.journal = journal

    def waiting_at(self, job: JobRow) -> Paused | None:
        """The checkpoints the job's graph is paused at, read from the graph's checkpointer."""
        with open_checkpointer(self.settings) as saver:
            snapshot = build_graph(saver).get_state(_config(job.id))
        if not snapshot.interrupts:
            return None
        return Paused(tuple(Checkpoint.from_interrupt(job.id, i.value) for i in snapshot.interrupts))

    def drive(self, job: JobRow, *, stop: Callable[[], bool] = _never,
              on_progress: OnProgress = _quiet) -> Paused | Finished:
        """Run ``job`` from wherever it is (new, crashed, or paused at a decided checkpoint) until
        it pauses at an undecided checkpoint or ends. ``stop()`` says the job was cancelled
        in this process (its own cancel flag in the database is read too)."""
        if job.status in FINISHED:
            return Finished(job.id, job.status, dict(job.summary or {}), job.error)  # type: ignore[arg-type]
        try:
            task = self._with_environment(job, task_of(job), on_progress)
            ctx = self._context(job, task, lambda: stop() or bool(get_job(self.store, job.id).cancel_requested))
            with open_checkpointer(self.settings) as saver:
                graph = build_graph(saver, debug_attempts=task.budget.debug_attempts)
                config = {**_config(job.id), "recursion_limit": _step_limit(task)}
                step_input: Any = None
                if not graph.get_state(config).values:
                    step_input = initial_state(job.id, time.time())
                    step_input["notes"] = list(job.notes or [])
                while True:
                    snapshot = graph.get_state(config)
                    if snapshot.interrupts:
                        answers, undecided = self._answers(job, snapshot.interrupts)
                        if not answers:
                            return Paused(tuple(undecided))
                        step_input = Command(resume=answers)
                    elif step_input is None and not snapshot.next:
                        break
                    run_steps(graph, step_input, config, ctx, self.journal, on_progress)
                    step_input = None
                values: ResearchState = graph.get_state(config).values
        except LabloopError as exc:
            reason = self._public(str(exc), job)
            on_progress(Progress(job.id, "finished", message=f"failed: {reason}"))
            return Finished.failure(job.id, reason)
        stop_reason = values.get("stop_reason") or ""
        status: Literal["succeeded", "cancelled"] = "cancelled" if stop_reason.startswith("cancelled") else "succeeded"
        summary = job_summary(task, values, status=status, experiments=len(list_experiments(self.store, job.id)))
        on_progress(Progress(job.id, "finished", message=f"{status}: {stop_reason}"))
        return Finished(job.id, status, summary)

    def _public(self, message: str, job: JobRow) -> str:
        """``message`` as any token holder may read it: an uploaded task's folder is named
        ``<task folder>`` and the rest of the server's home ``$LABLOOP_HOME``, not spelled out."""
        task_dir = Path(job.task_dir)
        if task_dir.is_relative_to(self.settings.task_store_dir):
            message = message.replace(str(task_dir), "<task folder>")
        return message.replace(str(self.settings.home.resolve()), "$LABLOOP_HOME")

    def _answers(self, job: JobRow, interrupts: Sequence[Interrupt]) -> tuple[dict[str, Any], list[Checkpoint]]:
        """The recorded decisions by interrupt id, and the checkpoints nobody has decided yet."""
        answers: dict[str, Any] = {}
        undecided = []
        for pending in interrupts:
            checkpoint = Checkpoint.from_interrupt(job.id, pending.value)
            decision = get_decision(self.store, checkpoint.id)
            if decision is None:
                undecided.append(checkpoint)
            else:
                answers[pending.id] = resume_value(decision)
        return answers, undecided

    def report_cancelled(self, job: JobRow) -> dict[str, Any] | None:
        """Write the report of ``job``, cancelled while it waited, from its paused graph's state;
        return the job's summary (None when it was cancelled before its first node).

        Its graph never runs again, so nothing else would write the report.
        """
        with open_checkpointer(self.settings) as saver:
            values: ResearchState = build_graph(saver).get_state(_config(job.id)).values
        if not values:
            return None
        task = task_of(job)
        state: ResearchState = {**values, "stop_reason": "cancelled by a user while waiting at a checkpoint"}
        path = write_report(task, state, self.settings.runs_dir / job.id)
        state["report_path"] = str(path)
        self.journal.emit(job.id, "report", {"path": str(path)})
        return job_summary(task, state, status="cancelled", experiments=len(list_experiments(self.store, job.id)))

    def _with_environment(self, job: JobRow, task: Task, on_progress: OnProgress) -> Task:
        """``task`` running in its environment's image, built (once, before the baseline) when it
        has requirements; the build's progress goes to the job's events."""
        requirements = task.requirements(Path(job.task_dir))
        if requirements is None:
            return task
        if task.sandbox.image:
            raise InvalidTask("a task gives either sandbox.image or requirements, not both: the "
                              "environment is built FROM the server's sandbox image")
        if self.parts.runner is None:
            raise DockerUnavailable("the sandbox was not available when the server started; "
                                    "start Docker and restart the server")

        def log(line: str) -> None:
            self.journal.emit(job.id, "environment", {"line": line})
            on_progress(Progress(job.id, "notice", message=line))

        image = self.parts.runner.environment(requirements, log=log)
        return task.model_copy(update={"sandbox": task.sandbox.model_copy(update={"image": image})})

    def _context(self, job: JobRow, task: Task, should_stop: Callable[[], bool]) -> ResearchContext:
        if self.parts.runner is None:
            raise DockerUnavailable("the sandbox was not available when the server started; "
                                    "start Docker and restart the server")
        if job.strategy == "llm" and self.parts.model is None:
            raise ConfigError("this job uses the llm strategy but no model is configured; set LABLOOP_LLM_BASE_URL")
        return ResearchContext(
            job_id=job.id, task=task, task_dir=Path(job.task_dir), runner=self.parts.runner, journal=self.journal,
            runs_dir=self.settings.runs_dir, strategy="llm" if job.strategy == "llm" else "search",
            model=self.parts.model, memory=self.parts.memory, gates={**DEFAULT_GATES, **(job.gates or {})},
            price_per_1k_tokens=self.settings.llm_price_per_1k_tokens, should_stop=should_stop,
            limits=self.settings.model_limits(), image_facts=self._image_facts(job, task),
            grader_gap=self.settings.grader_gap, paper=bool(job.paper), reviewers=self.settings.reviewers,
            literature_url=self.settings.literature_url, chromium=self.settings.chromium,
        )

    def _image_facts(self, job: JobRow, task: Task) -> ImageFacts | None:
        """The task image's Python and package versions for the model's prompts (llm strategy only).

        They help the model write code for the right library versions but nothing depends on
        them, so a probe that fails is logged and the prompts go without.
        """
        if job.strategy != "llm" or self.parts.runner is None:
            return None
        try:
            return self.parts.runner.facts(task.sandbox.image)
        except LabloopError as exc:
            log.warning("job %s: the image's package versions are unknown (%s); prompts go without them",
                        job.id, exc)
            return None


def resume_value(decision: DecisionRow) -> dict[str, Any]:
    """What a gate's ``interrupt()`` returns on resume: the recorded decision, as the contract's
    :class:`~agents.checkpoints.Decided` (the gate reads it back with the same model)."""
    made = Decided.model_validate({"action": decision.action, "reason": decision.reason, "edit": decision.edit or None,
                                   "by": decision.decided_by, "at": decision.decided_at.isoformat(timespec="seconds")})
    return made.model_dump(mode="json")


def task_of(job: JobRow) -> Task:
    """The job's task: its folder's task.yaml (or template, with the job's task fields) with the
    job's budget over the task's own."""
    task = load_task(job.task_dir, fields=job.task_fields)
    overrides = {k: v for k, v in (job.budget or {}).items() if v is not None}
    return task.model_copy(update={"budget": task.budget.model_copy(update=overrides)}) if overrides else task


def _config(job_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": job_id}}


def _step_limit(task: Task) -> int:
    """Graph steps a whole job may take: per iteration ~8 nodes, each debug round 3, each paired replicate 2."""
    per_iteration = 10 + 3 * task.budget.debug_attempts + 2 * task.replicates
    return 100 + task.budget.iterations * per_iteration


def run_steps(graph: Any, step_input: Any, config: Any, ctx: ResearchContext, journal: Journal,
              tell: OnProgress) -> None:
    """Stream the graph until it ends or interrupts; journal each node's start and end.

    After each round (and when the stream stops) the checkpoints a resume no longer needs are
    deleted, so the checkpoint store holds about one round of a job, not all of them.
    """
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
            if name == "decide":
                _prune(graph, ctx.job_id)
    _prune(graph, ctx.job_id)


def _prune(graph: Any, job_id: str) -> None:
    # Housekeeping: a failure (say, Postgres refusing a prune that raced another) costs disk,
    # not the job; the next round prunes again.
    if graph.checkpointer:
        try:
            prune(graph.checkpointer, job_id)
        except Exception as exc:  # whatever the backend raises, the job goes on
            log.warning("could not prune the checkpoints of %s: %s", job_id, exc)


def job_summary(task: Task, state: ResearchState, *, status: str, experiments: int) -> dict[str, Any]:
    """``{job_id, status, baseline, best, experiments, findings, report, ...}`` of a finished job.

    A task that started from data has no baseline: ``baseline`` is null, ``no_baseline`` names the
    absent solution file, and ``first_incumbent`` is the draft every overall gain is measured from
    (null when none ran and was graded)."""
    metric = task.metric.name
    base, best = state.get("baseline") or {}, state.get("best") or {}
    started_from_data = from_data(base)
    return {
        "job_id": state["job_id"],
        "status": status,
        "baseline": None if started_from_data else {metric: base.get("value")},
        "no_baseline": base["missing"] if started_from_data else None,
        "first_incumbent": {"node": base["node"], "experiment_id": base.get("experiment_id"),
                            "metrics": base.get("metrics", {})} if started_from_data and base.get("node") else None,
        "best": {"metrics": best.get("metrics", {}), "params": best.get("params", {}),
                 "experiment_id": best.get("experiment_id"), "node": best.get("node")},
        "experiments": experiments,
        "findings": [
            {k: f.get(k) for k in ("iteration", "node", "title", "summary", "experiment_id", "value", "params",
                                   "mean_gain", "stderr", "n", "accepted", "rule", "against", "pairs",
                                   "baseline_pairs", "baseline_gain", "critique", "replicates", "looks")}
            for f in state.get("findings", [])
        ],
        **standing(task, state),  # best_seen, best_verified and the unverified contenders with why
        "report": state.get("report_path"),
        "paper": _paper_summary(state),
        "stop_reason": state.get("stop_reason"),
        "llm_tokens": state.get("tokens", 0),
        "cost_usd": round(state.get("cost_usd", 0.0), 6),
    }


def _paper_summary(state: ResearchState) -> dict[str, Any] | None:
    """Where the job's paper stands (None: the job did not ask for one)."""
    paper = state.get("paper")
    if paper is None:
        return None
    report = state.get("report_path")
    folder = Path(report).parent if report else None
    where = (lambda name: str(folder / name) if folder is not None else name)  # noqa: E731
    return {"status": paper["status"], "source": paper["source"], "pdf": where(paper["pdf"]) if paper["pdf"] else None,
            "markdown": where("paper/paper.md"), "review": where("paper/review.json"), "flagged": paper["flagged"]}
