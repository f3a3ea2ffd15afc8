"""Fixtures for the research-graph tests: the real Docker sandbox, a real app database and
SQLite checkpointer under a temporary LABLOOP_HOME, tiny quick tasks, and the fake LLM server.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from agents.task import load_task
from sandbox.runner import DockerSandbox
from services.collaborators import Collaborators, chat_model
from services.jobs import new_job, template
from services.lifecycle import Lifecycle
from services.local_run import run_job_here
from services.outcomes import Checkpoint, Finished, Paused
from services.settings import Settings
from services.store import Store, open_store
from tests.conftest import TEST_SERVICE
from tests.utils.fake_llm import FakeLLM

# Maximise -(x-1.5)^2 - (y+0.5)^2: the optimum is 0 at (1.5, -0.5); the baseline (-3, 3) scores -32.5.
# The seed adds the same small offset to every run on that seed (it stands for the data split),
# so paired differences cancel it.
QUADRATIC = '''
    import json, os, time
    from pathlib import Path
    p = {"x": -3.0, "y": 3.0}
    if Path("params.json").exists():
        p.update(json.loads(Path("params.json").read_text()))
    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    time.sleep(float(Path("slow.txt").read_text()) if Path("slow.txt").exists() else 0.0)
    score = -((p["x"] - 1.5) ** 2 + (p["y"] + 0.5) ** 2) + 0.001 * (seed % 7)
    print(f"x={p['x']} y={p['y']} seed={seed} score={score}")
    out = Path(os.environ["LABLOOP_OUTPUT"])
    (out / "metrics.json").write_text(json.dumps({"score": score}))
'''

# The llm task: the quality a function returns is the metric; the model edits the code.
QUALITY = '''
    import json, os
    from pathlib import Path


    def quality():
        return 0.5


    seed = int(os.environ.get("LABLOOP_SEED", "0"))
    score = quality() + 0.01 * (seed % 5)
    out = Path(os.environ["LABLOOP_OUTPUT"])
    (out / "metrics.json").write_text(json.dumps({"score": score}))
'''


def make_task(folder: Path, *, name: str, code: str, params: Mapping[str, Any] | None = None,
              budget: Mapping[str, Any] | None = None, replicates: int = 2, extra: Mapping[str, str] | None = None,
              search: Mapping[str, Any] | None = None) -> Path:
    """Write a task folder (task.yaml, experiment.py and any extra files) and return it.

    The tree is expanded one branch a round unless ``search`` says otherwise (``parallel: 2``).
    """
    folder.mkdir(parents=True)
    spec: dict[str, Any] = {
        "name": name, "goal": f"Maximise the score of {name}.", "metric": {"name": "score", "direction": "maximize"},
        "entrypoint": "python3 experiment.py", "replicates": replicates,
        "budget": {"iterations": 3, "experiment_timeout_s": 60, "debug_attempts": 2, "llm_tokens": 100_000,
                   **(budget or {})},
        "sandbox": {"cpus": 1.0, "memory": "256m", "network": "none"},
        "search": {"parallel": 1, **(search or {})},
    }
    if params:
        spec["params"] = dict(params)
    (folder / "task.yaml").write_text(yaml.safe_dump(spec))
    (folder / "experiment.py").write_text(textwrap.dedent(code).lstrip())
    for rel, text in (extra or {}).items():
        (folder / rel).write_text(text)
    return folder


QUAD_SPACE = {"x": {"low": -3.0, "high": 3.0}, "y": {"low": -3.0, "high": 3.0}}


@pytest.fixture(scope="session")
def sandbox(docker_client: docker.DockerClient, sandbox_image: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerSandbox]:
    """The real Docker sandbox shared by the graph tests (one warm container, no background reaper)."""
    with DockerSandbox(docker_client, image=sandbox_image, work_dir=tmp_path_factory.mktemp("sandbox"),
                       pool_size=1, service=TEST_SERVICE, reap_interval_s=None) as runner:
        yield runner


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh LABLOOP_HOME."""
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings under the fresh home, with no LLM endpoint."""
    return Settings(home=home, llm_base_url=None, llm_api_key=None)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The real app database (SQLite under home, migrated)."""
    with open_store(settings.db_url) as opened:
        yield opened


def approve_all(_checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint handler that approves everything."""
    return {"action": "approve", "by": "test"}


def run_job(
    store: Store, settings: Settings, task_dir: Path, parts: Collaborators, *, strategy: str,
    gates: Mapping[str, str] | None = None,
    on_checkpoint: Callable[[Checkpoint], Mapping[str, Any] | None] = approve_all, paper: bool = False,
) -> Paused | Finished:
    """Create a job on ``task_dir`` and drive it to its end."""
    job_id, _notes = create_research_job(store, settings, task_dir, strategy=strategy, gates=gates, paper=paper)
    return run_job_here(store, settings, job_id, parts, on_checkpoint=on_checkpoint)


def create_research_job(store: Store, settings: Settings, task_dir: Path, *, strategy: str,
                        gates: Mapping[str, str] | None = None, paper: bool = False) -> tuple[str, list[str]]:
    """Record a queued job on the task folder as `labloop run` does; return its id and notes."""
    job = template(task=load_task(task_dir).name, strategy=strategy, gates=dict(gates or {}), paper=paper)
    row = Lifecycle(store).create(new_job(store, settings, job, created_by="cli", folder=task_dir))
    return row.id, list(row.notes)


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    """The scripted OpenAI-compatible server (the only double: the real openai client talks to it)."""
    with FakeLLM() as server:
        yield server


@pytest.fixture
def llm_settings(home: Path, llm: FakeLLM) -> Settings:
    """Settings under the fresh home, pointed at the scripted server."""
    return Settings(home=home, llm_base_url=llm.base_url, llm_model="fake-model", llm_max_retries=1)


def model_parts(sandbox: object, settings: Settings) -> Collaborators:
    """The shared sandbox and the model ``settings`` configure."""
    return Collaborators(runner=sandbox, model=chat_model(settings))  # type: ignore[arg-type]
