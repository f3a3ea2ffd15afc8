"""Helpers of the sandbox tests: run a small Python experiment and read what it reported."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.result import ExperimentResult, Limits, OutputSink, RunRequest
from sandbox.runner import DockerSandbox

RunExperiment = Callable[..., ExperimentResult]


def make_request(
    root: Path,
    code: str,
    *,
    metric: str | None = None,
    files: dict[str, str] | None = None,
    **limits: Any,
) -> RunRequest:
    """A workspace under ``root`` holding ``exp.py`` (``code``) and ``files``."""
    workspace = root / "workspace"
    workspace.mkdir(parents=True)
    (workspace / "exp.py").write_text(textwrap.dedent(code))
    for name, text in (files or {}).items():
        (workspace / name).write_text(text)
    return RunRequest(
        workspace=workspace,
        output_dir=root / "output",
        command="python3 exp.py",
        limits=Limits(**{"timeout_s": 60, **limits}),
        metric=metric,
    )


@pytest.fixture
def run_experiment(docker_sandbox: DockerSandbox, tmp_path: Path) -> RunExperiment:
    """Run ``code`` as exp.py in the sandbox: run_experiment(code, metric=, on_output=, env=, seed=, **limits)."""
    counter = iter(range(1000))

    def run(
        code: str,
        *,
        on_output: OutputSink | None = None,
        env: dict[str, str] | None = None,
        seed: int = 0,
        labels: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> ExperimentResult:
        request = make_request(tmp_path / f"run{next(counter)}", code, **kwargs)
        request = RunRequest(**{**request.__dict__, "env": env or {}, "seed": seed, "labels": labels or {}})
        return docker_sandbox.run(request, on_output)

    return run
