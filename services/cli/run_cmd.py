"""``labloop run | resume | jobs | demo``: research jobs driven in this process, progress on stderr."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from agents.checkpoints import (
    PAPER_SECTIONS,
    CodePayload,
    Decided,
    FindingPayload,
    HumanDecision,
    IdeaPayload,
    NodeMetrics,
    PaperPayload,
)
from agents.context import GATE_KINDS, GATE_POLICIES, STRATEGIES
from agents.errors import InvalidInput
from services.cli import app
from services.cli.client import Token, api_call
from services.cli.job_output import print_outcome
from services.cli.terminal import printable, shown
from services.errors import ServerUnreachable
from services.settings import Settings, get_settings

if TYPE_CHECKING:  # the graph, the store and their libraries load only for commands that use them
    from services.driver import Progress as JobProgress
    from services.jobs import JobTemplate
    from services.outcomes import Checkpoint, Finished, Paused

DEMO_TASK = Path(__file__).resolve().parents[2] / "tasks" / "digits"
err = Console(stderr=True)


class _Terminal:
    """Progress lines and a bar over the iteration budget; asks at checkpoints unless auto-approving.

    With no terminal to ask on (stdin is not a tty: a pipe, /dev/null, cron), a checkpoint is
    left pending and the job waits; the command then says how to decide it.
    """

    def __init__(self, *, auto_approve: bool, interactive: bool | None = None) -> None:
        self.auto_approve = auto_approve
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=err, transient=True)
        self.task_id = self.bar.add_task("iterations", total=None)

    def progress(self, p: JobProgress) -> None:
        """A line per node started; notices, waits and the end in bold."""
        if p.kind == "node_started":
            done = max(0, p.iteration - 1) if p.node not in ("decide", "report") else p.iteration
            self.bar.update(self.task_id, total=p.iterations, completed=min(done, p.iterations),
                            description=f"iteration {p.iteration}: {p.node}")
            note = f" [dim]({shown(p.message)})[/]" if p.message else ""
            self.bar.console.print(f"[dim]{p.job_id}[/] iteration {p.iteration} · {p.node}{note}", soft_wrap=True)
        elif p.kind in ("notice", "waiting", "finished"):
            self.bar.console.print(f"[bold]{shown(p.message)}[/]", soft_wrap=True)

    def checkpoint(self, cp: Checkpoint) -> Decided | None:
        """Approve (with --auto-approve) or ask on the terminal, the progress bar paused meanwhile."""
        if self.auto_approve:
            return Decided(action="approve", by="cli:auto-approve")
        if not self.interactive:
            return None
        self.bar.stop()
        try:
            return _ask(cp)
        finally:
            self.bar.start()


def _metrics_line(label: str, result: NodeMetrics | None) -> str:
    if result is None:
        return f"{label}: not measured"
    return f"{label} {result.node}: {result.value} {json.dumps(result.metrics, sort_keys=True)}"


def _show(cp: Checkpoint) -> None:
    """What the reviewer decides on: the branch, the idea, and the change or the evidence."""
    payload = cp.typed_payload
    err.rule(f"{cp.kind} checkpoint {cp.id}")
    if payload.branch:
        err.print(f"[dim]{shown(payload.branch)}[/]")
    for reason in cp.flagged:
        err.print(f"[red]flagged:[/] {shown(reason)}")
    if isinstance(payload, IdeaPayload | CodePayload):
        err.print(f"[bold]{shown(payload.title)}[/]\n{shown(payload.hypothesis)}\nplan: {shown(payload.plan)}\n"
                  f"params: {shown(json.dumps(payload.params))}")
    if isinstance(payload, CodePayload):
        err.print(f"explanation: {shown(payload.explanation)}\n{shown(_metrics_line('parent', payload.parent_metrics))}"
                  f"\n{shown(_metrics_line('incumbent', payload.incumbent_metrics))}")
        err.print(printable(payload.diff_from_parent or payload.diff or "(no change)"), markup=False, highlight=False)
    elif isinstance(payload, FindingPayload):
        err.print(f"[bold]{shown(payload.title)}[/]: {shown(payload.verdict.get('reason'))}")
    elif isinstance(payload, PaperPayload):
        meta = payload.review.get("meta") or {}
        verdict = (f"meta-review: {meta.get('decision')} ({meta.get('overall')}/10)" if meta
                   else f"no review: {payload.review.get('unavailable') or 'none'}")
        err.print(f"[bold]{shown(payload.title)}[/] (revision {payload.revision}, prose by {payload.source})\n"
                  f"{shown(verdict)}\nPDF: {shown(payload.pdf or payload.pdf_error)}")
        err.print(printable(payload.markdown[:3000]), markup=False, highlight=False)


def _ask(cp: Checkpoint) -> Decided:
    _show(cp)
    # A flagged checkpoint has no default answer: a human must type one.
    action = typer.prompt("approve / reject / edit", default=None if cp.flagged else "approve", err=True)
    action = action.strip().lower()
    if action.startswith("r"):
        return Decided(action="reject", reason=typer.prompt("reason", err=True), by="cli")
    if action.startswith("e"):
        return Decided(action="edit", edit=_edit(cp), reason=typer.prompt("why (optional)", default="", err=True),
                       by="cli")
    return Decided(action="approve", by="cli")


def _edit(cp: Checkpoint) -> dict[str, Any]:
    edit: dict[str, Any] = {}
    if cp.kind == "finding":
        return {"summary": typer.prompt("summary of the finding", err=True)}
    if cp.kind == "paper":  # one section of prose, in an editor; its references are rendered again
        section = typer.prompt(f"section to edit ({', '.join(PAPER_SECTIONS)})", err=True).strip().lower()
        if section not in PAPER_SECTIONS:
            raise typer.BadParameter(f"the section must be one of {', '.join(PAPER_SECTIONS)}")
        current = str((cp.payload.get("prose") or {}).get(section, ""))
        return {section: click.edit(current, extension=".md") or current}
    if cp.kind == "idea":
        title = typer.prompt("new title (empty keeps it)", default="", err=True)
        if title:
            edit["title"] = title
    params = typer.prompt("params as JSON (empty keeps them)", default="", err=True)
    if params:
        edit["params"] = json.loads(params)
    if cp.kind == "code":
        path = typer.prompt("file to edit (empty for none)", default="", err=True)
        if path:
            current = (cp.payload.get("files") or {}).get(path, "")
            edit["files"] = {path: click.edit(current, extension=Path(path).suffix) or current}
    return edit


def _drive(settings: Settings, job: str | JobOptions, *, auto_approve: bool, memory: bool) -> Paused | Finished:
    """Open the store and the sandbox (before a job is created, so a missing engine creates none),
    create the job (unless resuming ``job``), then run it here until it ends or waits."""
    from services import store as db
    from services.collaborators import open_collaborators
    from services.jobs import new_job
    from services.lifecycle import Lifecycle
    from services.local_run import run_job_here, tell_notes

    terminal = _Terminal(auto_approve=auto_approve)
    with db.open_store(settings.db_url) as store, open_collaborators(
        settings, memory=memory, warn=lambda message: err.print(f"[yellow]{message}[/]"),
    ) as parts:
        if isinstance(job, str):
            job_id = job
        else:
            row = Lifecycle(store).create(new_job(store, settings, job.template, created_by=job.created_by,
                                                  folder=job.folder))
            job_id = row.id
            err.print(f"job {job_id} created (if interrupted, continue it with `labloop resume {job_id}`)",
                      soft_wrap=True)
            tell_notes(job_id, list(row.notes or []), terminal.progress)
        with terminal.bar:
            return run_job_here(store, settings, job_id, parts, on_checkpoint=terminal.checkpoint,
                                on_progress=terminal.progress)


@dataclass(frozen=True)
class JobOptions:
    """A job to create from a task folder (``run``, ``demo``)."""

    folder: Path
    template: JobTemplate
    created_by: str = "cli"


def _job_options(settings: Settings, folder: Path, *, strategy: str | None, iterations: int | None,
                 gates: dict[str, str], created_by: str = "cli", metric: str | None = None,
                 paper: bool = False) -> JobOptions:
    """Check the options as the API checks a job's body (the same template, the same messages)."""
    from agents.task import load_task
    from agents.template import metric_option
    from services.jobs import default_strategy, template

    fields = {"metric": metric_option(metric)} if metric is not None else {}
    name = load_task(folder, fields=fields).name
    budget = {"iterations": iterations} if iterations is not None else {}
    return JobOptions(folder, template(task=name, strategy=strategy or default_strategy(settings), budget=budget,
                                       gates=gates, paper=paper, **fields), created_by)


def decide_here(checkpoint_id: str, decision: HumanDecision, *, as_json: bool) -> None:
    """Decide a checkpoint in this machine's database (no server runs) and go on with its job here."""
    from services import store as db
    from services.lifecycle import Lifecycle

    settings = get_settings()
    with db.open_store(settings.db_url) as store:
        job_id = db.get_checkpoint(store, checkpoint_id).job_id
        Lifecycle(store).decide(checkpoint_id, action=decision.action, reason=decision.reason, edit=decision.edit,
                                by="cli")
    err.print(f"{decision.action}d {checkpoint_id}; job {job_id} goes on in this process", soft_wrap=True)
    continue_here(job_id, auto_approve=False, as_json=as_json)


def continue_here(job_id: str, *, auto_approve: bool, as_json: bool) -> None:
    """Go on with a decided local job in this process until it ends or waits again, then print how it did."""
    print_outcome(_drive(get_settings(), job_id, auto_approve=auto_approve, memory=True), as_json=as_json)


AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Approve every checkpoint without asking.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the job summary as JSON on stdout.")]
UseMemory = Annotated[bool, typer.Option("--memory/--no-memory", help="Use the findings memory.")]
WritePaper = Annotated[bool, typer.Option("--paper", help=(
    "After the report, write the results up as a paper (runs/JOB/paper/: paper.md, paper.pdf, review.json); "
    "its numbers come from the journal, and the paper gate decides its publication."))]


@app.command("run")
def run(
    task_dir: Annotated[Path, typer.Argument(help="The task folder (with task.yaml), or an AI Scientist template.")],
    strategy: Annotated[str | None, typer.Option(
        metavar="|".join(STRATEGIES), help="How ideas are made (default: llm when a model endpoint is configured, else search).")] = None,
    iterations: Annotated[int | None, typer.Option(min=1, help="Override the task's iteration budget.")] = None,
    gate: Annotated[list[str] | None, typer.Option(metavar="KIND=POLICY", help="KIND=POLICY, e.g. idea=always (policies: always|never|auto).")] = None,
    auto_approve: AutoApprove = False, as_json: AsJson = False, memory: UseMemory = True, paper: WritePaper = False,
    metric: Annotated[str | None, typer.Option(metavar="NAME:maximize|minimize", help="NAME:maximize|minimize, for an AI Scientist template "
                                                    "(a mean of its final_info.json).")] = None,
) -> None:
    """Run a research job on TASK_DIR (a task folder or an AI Scientist template) to the end in this process."""
    if strategy not in (None, *STRATEGIES):
        raise typer.BadParameter(f"--strategy must be one of {', '.join(STRATEGIES)}")
    gates = dict(item.partition("=")[::2] for item in gate or [])
    if any(k not in GATE_KINDS or v not in GATE_POLICIES for k, v in gates.items()):
        raise typer.BadParameter(f"--gate takes KIND=POLICY with KIND {'|'.join(GATE_KINDS)} and POLICY "
                                 f"{'|'.join(GATE_POLICIES)}")
    settings = get_settings()
    options = _job_options(settings, task_dir, strategy=strategy, iterations=iterations, gates=gates, metric=metric,
                           paper=paper)
    print_outcome(_drive(settings, options, auto_approve=auto_approve, memory=memory), as_json=as_json)


@app.command("resume")
def resume(job_id: Annotated[str, typer.Argument(help="The job to continue (see `labloop jobs`).")],
           auto_approve: AutoApprove = False, as_json: AsJson = False, memory: UseMemory = True,
           paper: WritePaper = False) -> None:
    """Continue JOB_ID from its last checkpoint (after a crash, a restart, or at a pending checkpoint)."""
    if paper:
        from services import store as db

        with db.open_store(get_settings().db_url) as store:
            db.ask_for_paper(store, job_id)
    print_outcome(_drive(get_settings(), job_id, auto_approve=auto_approve, memory=memory), as_json=as_json)


@app.command("jobs")
def jobs(status: Annotated[str | None, typer.Option(
             metavar="STATUS", help="Only jobs with this status (queued, running, waiting, succeeded, failed, "
                                    "cancelled).")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print the jobs as JSON on stdout.")] = False,
         token: Token = None) -> None:
    """List jobs, newest first: the running server's (LABLOOP_API_URL), else this machine's database."""
    try:
        rows = api_call("GET", "/v1/jobs", params={"status": status} if status else None, token=token)
    except ServerUnreachable:
        from services import store as db
        from services.statuses import JOB_STATUSES

        if status is not None and status not in JOB_STATUSES:
            raise InvalidInput(f"--status must be one of {', '.join(JOB_STATUSES)}, not {status!r}") from None
        settings = get_settings()
        with db.open_store(settings.db_url) as store:
            rows = [{"id": r.id, "task_name": r.task_name, "strategy": r.strategy, "status": r.status,
                     "created_at": r.created_at.isoformat(), "error": r.error, "summary": r.summary}
                    for r in db.list_jobs(store, status=status)]
    listed = [{"id": r["id"], "task": r["task_name"], "strategy": r["strategy"], "status": r["status"],
               "created_at": r["created_at"], "error": r["error"],
               "report": (r["summary"] or {}).get("report")} for r in rows]
    if as_json:
        typer.echo(json.dumps(listed, indent=2))
        return
    table = Table(Column("id", no_wrap=True), "task", "strategy", "status", "created", Column("report", overflow="fold"))
    for r in listed:
        table.add_row(r["id"], r["task"], r["strategy"], r["status"], r["created_at"][:16].replace("T", " "),
                      str(r["report"] or ""))
    Console().print(table)


@app.command("demo")
def demo(iterations: Annotated[int | None, typer.Option(min=1, help="Override the task's iteration budget (4).")] = None,
         memory: UseMemory = True,
         paper: Annotated[bool, typer.Option("--paper/--no-paper", help="Write the results up as a paper.")] = True,
         ) -> None:
    """A full job on tasks/digits, auto-approved (search unless an LLM is configured); prints the report path
    (and the paper's)."""
    settings = get_settings()
    options = _job_options(settings, DEMO_TASK, strategy=None, iterations=iterations, gates={}, created_by="demo",
                           paper=paper)
    print_outcome(_drive(settings, options, auto_approve=True, memory=memory), as_json=False)
