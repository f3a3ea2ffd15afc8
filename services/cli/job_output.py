"""What ``labloop run | resume | demo | approve`` print when a job ends or waits.

A summary for a human rounds every number to 4 significant digits and names the report once;
``--json`` prints the summary as it is. The instructions for a waiting job are written without
rich, so no terminal width ever wraps a command in the middle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import typer

from services.cli.terminal import printable

if TYPE_CHECKING:
    from services.outcomes import Finished, Paused

WAITING_EXIT = 3  # the job waits at a checkpoint nobody here could answer: decide it, and it goes on


def rounded(value: Any) -> str:
    """A number to 4 significant digits (407.0 → 407, 0.70740740 → 0.7074); anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def _pairs(values: Mapping[str, Any] | None, sep: str) -> str:
    return ", ".join(f"{name}{sep}{rounded(value)}" for name, value in (values or {}).items())


def summary_lines(job_id: str, status: str, summary: Mapping[str, Any]) -> list[str]:
    """The job's summary in one line, then the report path on its own line."""
    best = summary.get("best") or {}
    line = f"job {job_id} {status}: baseline {_pairs(summary.get('baseline'), ' ') or 'none'}"
    if summary.get("no_baseline"):  # a task that started from data: gains are over its first incumbent
        first = summary.get("first_incumbent") or {}
        line += f" (no {summary['no_baseline']}: started from data"
        line += f"; first incumbent {first['node']}: {_pairs(first.get('metrics'), ' ')})" if first else ")"
    if best.get("metrics"):
        line += f"; best {_pairs(best['metrics'], ' ')}"
        if best.get("params"):
            line += f" with {_pairs(best['params'], '=')}"
    line += f"; {summary.get('experiments', 0)} experiment(s), {len(summary.get('findings') or [])} finding(s)"
    paper = summary.get("paper") or {}
    wrote = ([f"paper ({paper['status']}): {paper.get('pdf') or paper.get('markdown')}"] if paper.get("status")
             not in (None, "wanted") else [])
    return [line] + ([f"report: {summary['report']}"] if summary.get("report") else []) + wrote


def print_waiting(outcome: Paused, *, as_json: bool) -> None:
    """Say how to decide each pending checkpoint, one unwrapped line each, then exit with WAITING_EXIT."""
    # Plain stderr: click's echo never wraps; titles and flags quote the model, so only printable text.
    say = lambda text: typer.echo(printable(text), err=True)  # noqa: E731
    say(f"job {outcome.job_id} is waiting at {len(outcome.checkpoints)} checkpoint(s) (no terminal to ask on). "
        "Decide each, and the job goes on:")
    for cp in outcome.checkpoints:
        flagged = f" (flagged: {'; '.join(map(str, cp.flagged))})" if cp.flagged else ""
        asked = cp.typed_payload  # its branch label tells parallel checkpoints of a round apart
        branch = f" ({asked.branch})" if asked.branch else ""
        say(f"  {cp.kind} checkpoint {cp.id}: {asked.title}{branch}{flagged}")
        say(f"    labloop approve {cp.id}")
        say(f"    labloop reject {cp.id} --reason '...'")
    say(f"or approve them all: labloop approve --all {outcome.job_id}")
    say(f"or answer on a terminal: labloop resume {outcome.job_id}")
    if as_json:
        typer.echo(json.dumps({"job_id": outcome.job_id, "status": "waiting", "checkpoints": [
            {"id": cp.id, "kind": cp.kind, "flagged": cp.flagged, "title": cp.typed_payload.title,
             "branch": cp.typed_payload.branch}
            for cp in outcome.checkpoints]}, indent=2))
    raise typer.Exit(WAITING_EXIT)


def print_outcome(outcome: Paused | Finished, *, as_json: bool) -> None:
    """The summary (or, for a waiting job, how to decide); exit 1 for a failed job, 3 for a waiting one."""
    from services.outcomes import Paused

    if isinstance(outcome, Paused):
        print_waiting(outcome, as_json=as_json)
    elif as_json:
        typer.echo(json.dumps(outcome.summary, indent=2, default=str))
    elif outcome.status != "failed":
        for line in summary_lines(outcome.job_id, outcome.status, outcome.summary):
            typer.echo(printable(line))
    if outcome.status == "failed":
        typer.echo(printable(f"job {outcome.job_id} failed: {outcome.error}"), err=True)  # the error may quote the experiment
        raise typer.Exit(1)
