"""``labloop checkpoints | approve | reject``: checkpoints on the server, or in this machine's database.

Each command asks the server at LABLOOP_API_URL first. When no server answers, or when it does
not know the job or checkpoint (a job that ``labloop run`` left waiting here), it uses this
machine's database instead, as ``labloop jobs`` does; a decision made here goes on with the job
in this process.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, get_args

import typer

from agents.checkpoints import DecisionAction, HumanDecision, parse_decision, read_payload
from agents.errors import InvalidInput
from services.cli import app
from services.cli.client import Token, api_call
from services.cli.terminal import printable
from services.errors import Conflict, NotFound, ServerUnreachable
from services.settings import get_settings
from services.statuses import FINISHED, CheckpointStatus

FOLLOW_POLL_S = 1.0  # how often `approve --all --follow` looks for new checkpoints on a server

AsJson = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")]
Reason = Annotated[str, typer.Option(help="Why (optional); recorded with the decision.")]


def _local_checkpoints(status: str | None, job_id: str | None) -> list[dict[str, Any]]:
    from services import store as db

    with db.open_store(get_settings().db_url) as store:
        rows = db.list_checkpoints(store, status=status, job_id=job_id, limit=1000)
    return [{"id": r.id, "job_id": r.job_id, "kind": r.kind, "status": r.status, "payload": r.payload or {},
             "flagged": list(r.flagged or []), "created_at": r.created_at.isoformat()} for r in rows]


def _server_knows_job(job_id: str, token: str | None) -> bool:
    try:
        api_call("GET", f"/v1/jobs/{job_id}", token=token)
    except NotFound:
        return False
    return True


def _known_here(checkpoint_id: str) -> bool:
    from services import store as db

    with db.open_store(get_settings().db_url) as store:
        try:
            db.get_checkpoint(store, checkpoint_id)
        except NotFound:
            return False
    return True


@app.command("checkpoints")
def checkpoints(
    status: Annotated[str, typer.Option(metavar="|".join(get_args(CheckpointStatus)),
                                        help="Which checkpoints to list.")] = "pending",
    job: Annotated[str | None, typer.Option(metavar="JOB_ID", help="Only this job's checkpoints.")] = None,
    as_json: AsJson = False,
    token: Token = None,
) -> None:
    """List checkpoints (pending ones by default): the server's (LABLOOP_API_URL), else this machine's."""
    if status not in get_args(CheckpointStatus):
        raise InvalidInput(f"--status must be one of {', '.join(get_args(CheckpointStatus))}, not {status!r}")
    params = {"status": status, "limit": 1000, **({"job_id": job} if job else {})}
    try:
        rows = api_call("GET", "/v1/checkpoints", params=params, token=token)
        if not rows and job is not None and not _server_knows_job(job, token):
            rows = _local_checkpoints(status, job)
    except ServerUnreachable:
        rows = _local_checkpoints(status, job)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no {status} checkpoints" + (f" of job {job}" if job else ""), err=True)
    for row in rows:
        asked = read_payload(row["kind"], row["payload"])
        branch = f" ({asked.branch})" if asked.branch else ""  # tells parallel checkpoints of a round apart
        flagged = f" [flagged: {'; '.join(map(str, row['flagged']))}]" if row["flagged"] else ""
        typer.echo(printable(f"{row['id']}  {row['kind']:<8} {row['status']:<8} {asked.title}{branch}{flagged}"))


def _decide(checkpoint_id: str, action: DecisionAction, reason: str, as_json: bool, token: str | None) -> None:
    from services.cli.run_cmd import decide_here

    made = parse_decision({"action": action, "reason": reason})  # the API's own decision model, checked here first
    try:
        decision = api_call("POST", f"/v1/checkpoints/{checkpoint_id}/decision",
                            body=made.model_dump(exclude_none=True), token=token)
    except ServerUnreachable:  # no server: decide in this machine's database and go on with the job here
        decide_here(checkpoint_id, made, as_json=as_json)
        return
    except NotFound as exc:  # the server does not know it: a job that `labloop run` left waiting here?
        if not _known_here(checkpoint_id):
            raise NotFound(f"{exc}; this machine's database has no checkpoint {checkpoint_id!r} either") from None
        decide_here(checkpoint_id, made, as_json=as_json)
        return
    if as_json:
        typer.echo(json.dumps(decision, indent=2))
    else:
        typer.echo(f"{action}d {checkpoint_id} as {decision['decided_by']}; job {decision['job_id']} resumes")


def _approve_all_on_server(job_id: str, reason: str, *, follow: bool, token: str | None) -> dict[str, Any]:
    """Approve the job's pending checkpoints on the server (and, following, each new one until it ends)."""
    approved: list[str] = []
    while True:
        pending = api_call("GET", "/v1/checkpoints", params={"status": "pending", "job_id": job_id, "limit": 1000},
                           token=token)
        for cp in pending:
            try:
                api_call("POST", f"/v1/checkpoints/{cp['id']}/decision",
                         body=HumanDecision(action="approve", reason=reason).model_dump(exclude_none=True), token=token)
            except Conflict:  # someone decided it meanwhile, or the job ended
                continue
            approved.append(cp["id"])
            typer.echo(f"approved {cp['id']}", err=True)
        status = api_call("GET", f"/v1/jobs/{job_id}", token=token)["status"]
        if not follow or status in FINISHED:
            return {"job_id": job_id, "approved": approved, "status": status}
        time.sleep(FOLLOW_POLL_S)


def _approve_all_here(job_id: str, reason: str, *, follow: bool, as_json: bool) -> None:
    """Approve the job's pending checkpoints in this machine's database, then go on with the job here."""
    from services import store as db
    from services.cli.run_cmd import continue_here
    from services.lifecycle import Lifecycle

    with db.open_store(get_settings().db_url) as store:
        status = db.get_job(store, job_id).status
        pending = db.list_checkpoints(store, status="pending", job_id=job_id, limit=1000)
        for cp in pending:
            Lifecycle(store).decide(cp.id, action="approve", reason=reason, edit=None, by="cli")
            typer.echo(f"approved {cp.id}", err=True)
    if status != "waiting":  # finished, or driven by another process: nothing to go on with here
        result = {"job_id": job_id, "approved": [cp.id for cp in pending], "status": status}
        typer.echo(json.dumps(result, indent=2) if as_json else f"job {job_id} status: {status}")
        return
    continue_here(job_id, auto_approve=follow, as_json=as_json)


def _approve_all(job_id: str, reason: str, *, follow: bool, as_json: bool, token: str | None) -> None:
    try:
        known = _server_knows_job(job_id, token)
    except ServerUnreachable:
        known = False
    if not known:
        _approve_all_here(job_id, reason, follow=follow, as_json=as_json)
        return
    result = _approve_all_on_server(job_id, reason, follow=follow, token=token)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        typer.echo(f"approved {len(result['approved'])} checkpoint(s) of job {job_id}; job status: {result['status']}")


@app.command("approve")
def approve(
    target: Annotated[str, typer.Argument(
        metavar="ID", help="The checkpoint id (see `labloop checkpoints`); with --all, the job id.")],
    all_of_job: Annotated[bool, typer.Option(
        "--all", help="Approve every checkpoint the job ID has pending now; add --follow for later ones.")] = False,
    follow: Annotated[bool, typer.Option(
        "--follow", help="With --all: also approve each new checkpoint as it appears, until the job ends.")] = False,
    reason: Reason = "",
    as_json: AsJson = False,
    token: Token = None,
) -> None:
    """Approve a pending checkpoint, or with --all every pending checkpoint of a job; the job resumes."""
    if follow and not all_of_job:
        raise typer.BadParameter("--follow goes with --all JOB_ID")
    if all_of_job:
        _approve_all(target, reason, follow=follow, as_json=as_json, token=token)
    else:
        _decide(target, "approve", reason, as_json, token)


@app.command("reject")
def reject(
    checkpoint_id: Annotated[str, typer.Argument(help="The checkpoint id (see `labloop checkpoints`).")],
    reason: Annotated[str, typer.Option(help="Why; kept in memory so later ideas avoid it.")],
    as_json: AsJson = False,
    token: Token = None,
) -> None:
    """Reject a pending checkpoint with a reason; its job resumes and tries something else."""
    _decide(checkpoint_id, "reject", reason, as_json, token)
