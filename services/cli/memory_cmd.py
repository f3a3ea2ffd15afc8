"""``labloop findings QUERY`` and ``labloop literature add PATH...``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from agents.protocols import MemoryKind, MemoryRecord
from agents.recall import citation
from services.cli import app
from services.cli.terminal import printable
from services.memory import open_memory
from services.memory.literature import ingest_literature
from services.settings import get_settings

literature_app = typer.Typer(help="Notes and papers the ideation draws on.", no_args_is_help=True)
app.add_typer(literature_app, name="literature")

_KINDS: tuple[MemoryKind, ...] = ("findings", "ideas", "feedback", "literature")


def _as_json(record: MemoryRecord) -> dict[str, Any]:
    meta = dict(record.metadata)
    if isinstance(meta.get("params"), str):
        with contextlib.suppress(json.JSONDecodeError):
            meta["params"] = json.loads(meta["params"])
    return {"id": record.id, "kind": record.kind, "distance": record.distance, "text": record.text,
            "metadata": meta}


def _line(record: MemoryRecord) -> str:
    meta = record.metadata
    if record.kind == "literature":
        where = citation(record)
    else:
        where = f"{meta.get('task', '?')} job {meta.get('job_id', '?')} it {meta.get('iteration', '?')}"
    flags = " [verified]" if meta.get("verified") else ""
    reason = f" — reason: {meta['reason']}" if meta.get("reason") else ""
    text = " ".join(record.text.split())
    text = text if len(text) <= 160 else text[:159] + "…"
    return f"{record.distance or 0.0:6.3f}  {record.kind:<10} {where}{flags}\n        {text}{reason}"


@app.command("findings")
def findings(
    query: Annotated[str, typer.Argument(help="What to look for, in words.")],
    task: Annotated[str | None, typer.Option(help="Only records of this task.")] = None,
    job: Annotated[str | None, typer.Option("--job", help="Only records of this job id.")] = None,
    verified: Annotated[bool, typer.Option("--verified", help="Only verified findings.")] = False,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="findings, ideas, feedback or literature (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option("-k", "--limit", min=1, max=200, help="How many results.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Search the findings memory (outcomes, ideas, human decisions, literature), closest first."""
    kinds = tuple(k for k in _KINDS if k in set(kind)) if kind else _KINDS
    unknown = sorted(set(kind or []) - set(_KINDS))
    if unknown:
        raise typer.BadParameter(f"unknown kind(s) {', '.join(unknown)}; use {', '.join(_KINDS)}")
    if verified:
        kinds = ("findings",)
    where = {"task": task, "job_id": job, "verified": True if verified else None}
    with open_memory(get_settings()) as memory:
        hits = memory.search(query, kinds=kinds, where=where, k=limit)
    if as_json:
        typer.echo(json.dumps({"query": query, "results": [_as_json(h) for h in hits]}, indent=2))
        return
    if not hits:
        typer.echo("no matching records", err=True)
    for hit in hits:
        typer.echo(printable(_line(hit)))  # findings quote the model and the experiments


@literature_app.command("add")
def literature_add(
    paths: Annotated[list[Path], typer.Argument(help=".md, .txt or .pdf files, or folders of them.")],
    task: Annotated[str | None, typer.Option(help="Tie the passages to one task (default: all tasks).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Add notes or papers to the literature that ideation retrieves and reports cite."""
    with open_memory(get_settings()) as memory:
        done = ingest_literature(memory, paths, task=task, on_progress=lambda msg: typer.echo(msg, err=True))
    summary = {"sources": [vars(d) for d in done], "passages": sum(d.passages for d in done)}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"added {summary['passages']} passages from {len(done)} file(s)")
