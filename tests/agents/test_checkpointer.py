"""What a job needs from its checkpointer, on each real backend (SQLite under home, Postgres).

A job paused at a checkpoint survives closing everything (a restart of the service): a new
drive, with new connections, finds the pending interrupt, takes the decision recorded in the
app database and runs the job to its end; the checkpoints a resume no longer needs are gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.checkpointer import open_checkpointer, postgres_url
from services.collaborators import Collaborators
from services.lifecycle import Lifecycle
from services.local_run import run_job_here
from services.settings import Settings
from services.store import list_experiments, open_store
from tests.agents.conftest import QUAD_SPACE, QUADRATIC, create_research_job, make_task
from tests.utils.databases import database_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_settings(request: pytest.FixtureRequest, home: Path) -> Iterator[Settings]:
    """Settings whose app database (and so checkpointer) is on each backend."""
    with database_url(request.param, home.parent) as url:
        yield Settings(home=home, database_url=url if request.param == "postgres" else None)


def test_a_waiting_job_survives_a_restart_on_each_backend(tmp_path: Path, backend_settings: Settings,
                                                         sandbox: object) -> None:
    settings = backend_settings
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 3})
    parts = Collaborators(runner=sandbox)  # type: ignore[arg-type]
    gates = {"idea": "always", "code": "never", "finding": "never"}
    with open_store(settings.db_url) as store:
        job_id, _ = create_research_job(store, settings, task, strategy="search", gates=gates)
        waiting = run_job_here(store, settings, job_id, parts)
        assert waiting.status == "waiting" and waiting.checkpoint is not None
        Lifecycle(store).decide(waiting.checkpoint.id, action="approve", reason="", edit=None, by="erin")

    for _ in range(3):  # a gate a round: each resumed "after a restart", with every connection new
        with open_store(settings.db_url) as store:
            done = run_job_here(store, settings, job_id, parts)
            if done.status != "waiting":
                break
            assert done.checkpoint is not None
            Lifecycle(store).decide(done.checkpoint.id, action="approve", reason="", edit=None, by="erin")
    with open_store(settings.db_url) as store:
        assert done.status == "succeeded", done.error
        assert [r.role for r in list_experiments(store, job_id)][:2] == ["baseline", "candidate"]

    with open_checkpointer(settings) as saver:
        stored = saver.get_tuple({"configurable": {"thread_id": job_id, "checkpoint_ns": ""}})
        kept = list(saver.list({"configurable": {"thread_id": job_id}}))
    assert stored is not None and stored.checkpoint["channel_values"]["report_path"] == done.summary["report"]
    assert len(stored.checkpoint["channel_values"]["nodes"]) == 4  # the root and a node a round: all there
    # Superseded checkpoints were deleted round by round (the resume above found what it needed):
    # three rounds write about 30, the job keeps its latest.
    assert len(kept) == 1, [(k.config["configurable"]["checkpoint_ns"], k.metadata.get("step")) for k in kept]
    is_postgres = postgres_url(settings) is not None
    assert is_postgres == (settings.database_url is not None)
    assert (settings.home / "checkpoints.sqlite").exists() != is_postgres


def test_postgres_urls_lose_the_sqlalchemy_driver_suffix(home: Path) -> None:
    url = postgres_url(Settings(home=home, database_url="postgresql+psycopg://u@127.0.0.1:5432/db"))
    assert url == "postgresql://u@127.0.0.1:5432/db"
    assert postgres_url(Settings(home=home, database_url="sqlite:///x.db")) is None
    assert postgres_url(Settings(home=home)) is None
