"""``labloop serve | checkpoints | approve | reject``: the server, and clients of a running one."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from agents.checkpoints import DecisionAction, parse_decision, read_payload
from services.cli import app
from services.cli.client import api_call
from services.cli.terminal import printable
from services.errors import ServerUnreachable
from services.settings import Settings, get_settings


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default LABLOOP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default LABLOOP_PORT).")] = None,
) -> None:
    """Run the HTTP API (jobs run inside this process); refuses a public address without a token."""
    import uvicorn

    from services.api.app import create_app
    from services.api.logs import configure_logging

    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = Settings(**overrides) if overrides else get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=5)


@app.command("checkpoints")
def checkpoints(
    status: Annotated[str, typer.Option(help="pending, decided or cancelled.")] = "pending",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """List checkpoints (pending ones by default) of the running server."""
    rows = api_call("GET", "/v1/checkpoints", params={"status": status})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no {status} checkpoints", err=True)
    for row in rows:
        asked = read_payload(row["kind"], row["payload"])
        branch = f" ({asked.branch})" if asked.branch else ""  # tells parallel checkpoints of a round apart
        flagged = f" [flagged: {'; '.join(map(str, row['flagged']))}]" if row["flagged"] else ""
        typer.echo(printable(f"{row['id']}  {row['kind']:<8} {row['status']:<8} {asked.title}{branch}{flagged}"))


def _decide(checkpoint_id: str, action: DecisionAction, reason: str, as_json: bool) -> None:
    made = parse_decision({"action": action, "reason": reason})  # the API's own decision model, checked here first
    try:
        decision = api_call("POST", f"/v1/checkpoints/{checkpoint_id}/decision",
                            body=made.model_dump(exclude_none=True))
    except ServerUnreachable:  # no server: decide in this machine's database and go on with the job here
        from services.cli.run_cmd import decide_here

        decide_here(checkpoint_id, made, as_json=as_json)
        return
    if as_json:
        typer.echo(json.dumps(decision, indent=2))
    else:
        typer.echo(f"{action}d {checkpoint_id} as {decision['decided_by']}; job {decision['job_id']} resumes")


@app.command("approve")
def approve(
    checkpoint_id: Annotated[str, typer.Argument(help="The checkpoint id (see `labloop checkpoints`).")],
    reason: Annotated[str, typer.Option(help="Why (optional).")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Approve a pending checkpoint; its job resumes at once."""
    _decide(checkpoint_id, "approve", reason, as_json)


@app.command("reject")
def reject(
    checkpoint_id: Annotated[str, typer.Argument(help="The checkpoint id (see `labloop checkpoints`).")],
    reason: Annotated[str, typer.Option(help="Why; kept in memory so later ideas avoid it.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Reject a pending checkpoint with a reason; its job resumes and tries something else."""
    _decide(checkpoint_id, "reject", reason, as_json)
