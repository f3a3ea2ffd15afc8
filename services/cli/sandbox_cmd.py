"""``labloop sandbox build | doctor | run``."""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from agents.drafting import missing_solution, no_baseline_message
from agents.errors import DockerUnavailable, InvalidInput
from agents.experiments import materialize
from agents.grading import grade
from agents.task import load_task
from sandbox.engine import FIX_IMAGE, connect, engine_limits
from sandbox.image import build_image, image_status
from sandbox.result import ExperimentResult, Limits, RunRequest
from sandbox.runner import DockerSandbox
from services.cli import app
from services.cli.terminal import printable
from services.settings import get_settings

sandbox_app = typer.Typer(help="Build, check and use the experiment sandbox.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


def _progress(stream: str, text: str) -> None:
    sys.stderr.write(printable(text))  # the experiment's own output: no escape sequence reaches the terminal
    sys.stderr.flush()


@sandbox_app.command("build")
def build(
    task_dir: Annotated[Path | None, typer.Argument(help="Also build this task's environment.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild the sandbox image even when up to date.")] = False,
) -> None:
    """Build the sandbox image when it is missing or its recipe changed (and a task's environment)."""
    settings = get_settings()
    client = connect()
    build_image(client, settings.sandbox_image, force=force)
    if task_dir is None:
        return
    task = load_task(task_dir)
    requirements = task.requirements(task_dir)
    if requirements is None:
        typer.echo(f"environment: task {task.name} needs only the sandbox image {settings.sandbox_image}", err=True)
        return
    with _sandbox(client) as sandbox:
        tag = sandbox.environment(requirements, log=_line)
    typer.echo(f"environment: task {task.name} runs in {tag}", err=True)


def _line(text: str) -> None:
    sys.stderr.write(printable(text).rstrip("\n") + "\n")
    sys.stderr.flush()


def _sandbox(client: Any) -> DockerSandbox:
    """A cold sandbox with this server's image, policy, runtime and registry."""
    settings = get_settings()
    return DockerSandbox(
        client, image=settings.sandbox_image, work_dir=settings.runs_dir / "sandbox", pool_size=0,
        expiry_s=settings.sandbox_expiry_s, reap_interval_s=None, policy=settings.sandbox_policy(),
        runtime=settings.sandbox_runtime, registry=settings.sandbox_registry,
    )


@sandbox_app.command("doctor")
def doctor() -> None:
    """Check the engine, the image and which limits the engine enforces."""
    tag = get_settings().sandbox_image
    problems: list[str] = []
    try:
        client = connect(timeout=10)
    except DockerUnavailable as exc:
        typer.echo(f"engine: NOT REACHABLE - {exc}")
        raise typer.Exit(1) from exc
    limits = engine_limits(client)
    typer.echo(f"engine: ok (Docker {limits.server_version}, cgroup v{limits.cgroup_version})")
    flags = {"memory": limits.memory, "memory+swap": limits.swap, "pids": limits.pids, "cpu": limits.cpu}
    typer.echo("limits enforced: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in flags.items()))
    settings = get_settings()
    shown = [f"{name} (default)" if name == limits.default_runtime else name for name in limits.runtimes]
    typer.echo("runtimes: " + (", ".join(shown) or "?") + f"; experiments use {settings.sandbox_runtime or limits.default_runtime}")
    if settings.sandbox_runtime and settings.sandbox_runtime not in limits.runtimes:
        problems.append(
            f"LABLOOP_SANDBOX_RUNTIME={settings.sandbox_runtime} is not a runtime of this engine; "
            "register it in /etc/docker/daemon.json (scripts/ensure-docker.sh does for runsc)"
        )
    if limits.missing:
        problems.append(
            f"the engine cannot enforce {', '.join(limits.missing)}: enable the cgroup controllers "
            "(e.g. cgroup_enable=memory swapaccount=1 on the kernel command line)"
        )
    status = image_status(client, tag)
    if not status.present:
        typer.echo(f"image: {tag} MISSING")
        problems.append(f"the sandbox image {tag} is not built; {FIX_IMAGE}")
    else:
        fresh = "up to date" if status.up_to_date else f"STALE (recipe is now {status.current_recipe})"
        typer.echo(f"image: {tag} present, built by the {status.kind or 'unknown'} recipe {status.recipe}, {fresh}")
        if not status.up_to_date:
            problems.append(f"the image was built from an older recipe; {FIX_IMAGE}")
        problems += _smoke_run(client, tag)
    for problem in problems:
        typer.echo(printable(f"problem: {problem}"), err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("sandbox: ready")


def _smoke_run(client: Any, tag: str) -> list[str]:
    """Run one trivial experiment end to end; return the problems it revealed."""
    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="labloop-doctor-") as tmp:
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        (workspace / "check.sh").write_text('echo \'{"ok": 1}\' > "$LABLOOP_OUTPUT/metrics.json"\n')
        request = RunRequest(workspace, Path(tmp) / "output", "sh check.sh", Limits(timeout_s=60), metric="ok")
        started = time.perf_counter()
        with DockerSandbox(
            client, image=tag, work_dir=settings.runs_dir / "sandbox", pool_size=0,
            expiry_s=settings.sandbox_expiry_s, reap_interval_s=None, runtime=settings.sandbox_runtime,
        ) as sandbox:
            result = sandbox.run(request)
    if not result.succeeded:
        typer.echo(printable(f"smoke run: FAILED ({result.status}: {result.error})"))
        return [f"a trivial experiment failed in the sandbox: {result.error}; stderr: {result.stderr_tail[-300:]}"]
    typer.echo(f"smoke run: a trivial experiment ran in a fresh container in {time.perf_counter() - started:.2f} s")
    return []


def _params(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"--params is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput('--params must be a JSON object, e.g. \'{"C": 1.0}\'')
    return value


def _summary(result: ExperimentResult, output_dir: Path) -> str:
    lines = [f"status: {result.status} (exit code {result.exit_code}, {result.duration_s:.2f} s)"]
    if result.error:
        lines.append(f"error: {result.error}")
    graded = "graded " if result.self_reported is not None else ""
    lines += [f"{graded}metric {name} = {value:g}" for name, value in sorted(result.metrics.items())]
    lines += [f"self-reported metric {name} = {value:g}" for name, value in sorted((result.self_reported or {}).items())]
    lines += [f"artifact {a.path} ({a.size} bytes, sha256 {a.sha256[:12]})" for a in result.artifacts]
    lines.append(f"outputs: {output_dir}")
    return printable("\n".join(lines))  # the error quotes the experiment's stderr


@sandbox_app.command("run")
def run(
    task_dir: Annotated[Path, typer.Argument(help="A task folder with task.yaml, or an AI Scientist template.")],
    params: Annotated[str | None, typer.Option("--params", help="Parameters as a JSON object.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Passed to the experiment as LABLOOP_SEED.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result object as JSON.")] = False,
) -> None:
    """Run the task's experiment once in the sandbox (no graph) and print its result."""
    settings = get_settings()
    task = load_task(task_dir)
    if (missing := missing_solution(task, task_dir)) is not None:
        raise InvalidInput(no_baseline_message(task, missing, why=", so `labloop sandbox run` has no experiment to run"))
    chosen = _params(params)
    run_dir = settings.runs_dir / "sandbox-run" / f"{task.name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    workspace = run_dir / "workspace"
    materialize(task_dir, workspace, files={}, params={})  # never the grader's files
    (workspace / "params.json").write_text(json.dumps(chosen))
    request = RunRequest(
        workspace=workspace,
        output_dir=run_dir / "output",
        command=task.entrypoint,
        limits=task.sandbox.limits(task.budget.experiment_timeout_s),
        seed=seed,
        metric=task.metric.name if task.metric_given else None,  # a template without one: list what it reports
        labels={"task": task.name},
        image=task.sandbox.image or settings.sandbox_image,
        metrics_required=task.evaluation is None,
    )
    typer.echo(f"sandbox: running {task.name} with params {chosen or '{}'} and seed {seed} ...", err=True)
    requirements = task.requirements(task_dir)
    with _sandbox(connect()) as sandbox:
        if requirements is not None:
            request = dataclasses.replace(request, image=sandbox.environment(requirements, log=_line))
        result = sandbox.run(request, on_output=_progress)
        if task.evaluation is not None:
            typer.echo(f"sandbox: grading with {task.evaluation.command!r} ...", err=True)
            result = grade(sandbox, task, task_dir, result, submission=request.output_dir,
                           work_dir=run_dir / "grader", seed=seed, labels={"task": task.name}, image=request.image)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        typer.echo(_summary(result, request.output_dir))
    if not result.succeeded:
        raise typer.Exit(1)

