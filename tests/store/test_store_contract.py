"""One contract for the app database, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading

import pytest

from agents.errors import InvalidInput
from agents.protocols import ExperimentRecord
from sandbox.result import ExperimentResult
from services.errors import Conflict, NotFound
from services.lifecycle import Lifecycle
from services.outcomes import Checkpoint, Paused
from services.store import (
    SqlJournal,
    Store,
    create_job,
    events_after,
    get_checkpoint,
    get_job,
    list_checkpoints,
    list_experiments,
    list_jobs,
)


def _open(store: Store, checkpoint_id: str, job_id: str, kind: str, payload: dict[str, object],
          flagged: list[str]) -> None:
    """Record a checkpoint as a paused graph's run does (its job waits there)."""
    Lifecycle(store).pause(Paused((Checkpoint(checkpoint_id, job_id, kind, payload, flagged),)))  # type: ignore[arg-type]


def _job(store: Store, **kw: object) -> str:
    return create_job(store, task_name="digits", task_dir="/t/digits", strategy="search", **kw).id  # type: ignore[arg-type]


def test_jobs_move_through_statuses_and_stay_finished(store: Store) -> None:
    job_id = _job(store, budget={"iterations": 3})
    assert get_job(store, job_id).status == "queued"
    Lifecycle(store).move(job_id, "running")
    running = get_job(store, job_id)
    assert running.started_at is not None and running.budget == {"iterations": 3}
    Lifecycle(store).move(job_id, "succeeded", summary={"best": 0.9})
    done = get_job(store, job_id)
    assert done.finished_at is not None and done.summary == {"best": 0.9}
    with pytest.raises(Conflict):
        Lifecycle(store).move(job_id, "running")
    with pytest.raises(Conflict):
        Lifecycle(store).request_cancel(job_id)
    assert [j.id for j in list_jobs(store, status="succeeded")] == [job_id]
    assert list_jobs(store, status="queued") == []


def test_unknown_ids_are_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="no job"):
        get_job(store, "job-missing")
    with pytest.raises(NotFound, match="no checkpoint"):
        get_checkpoint(store, "cp-missing")


def test_journal_upserts_experiments_and_numbers_events(store: Store) -> None:
    job_id = _job(store)
    seen: list[tuple[int, str]] = []
    journal = SqlJournal(store, listeners=[lambda eid, _job, kind, _data: seen.append((eid, kind))])
    running = ExperimentRecord(
        id=f"{job_id}-0-baseline-0", job_id=job_id, iteration=0, role="baseline",
        params={}, seed=0, status="running",
    )
    journal.record_experiment(running)
    result = ExperimentResult(status="succeeded", exit_code=0, duration_s=1.5, metrics={"accuracy": 0.9})
    finished = ExperimentRecord(**{**running.__dict__, "status": "succeeded", "result": result})
    journal.record_experiment(finished)
    journal.record_experiment(finished)  # a node re-run after a crash writes the same id again
    rows = list_experiments(store, job_id)
    assert len(rows) == 1
    assert rows[0].status == "succeeded" and rows[0].result is not None
    assert rows[0].result["metrics"] == {"accuracy": 0.9} and rows[0].duration_s == 1.5
    journal.emit(job_id, "node_started", {"node": "baseline"})
    journal.emit(job_id, "node_finished", {"node": "baseline"})
    events = events_after(store, job_id)
    assert [e.kind for e in events] == ["node_started", "node_finished"]
    assert events[0].id < events[1].id and [i for i, _ in seen] == [e.id for e in events]
    assert [e.kind for e in events_after(store, job_id, after_id=events[0].id)] == ["node_finished"]


def test_a_checkpoint_is_decided_once(store: Store) -> None:
    job_id = _job(store)
    _open(store, "cp-1", job_id, "code", {"diff": "+x"}, ["imports socket"])
    _open(store, "cp-1", job_id, "code", {}, [])
    pending = list_checkpoints(store, status="pending")
    assert [(c.id, c.payload, c.flagged) for c in pending] == [("cp-1", {"diff": "+x"}, ["imports socket"])]
    with pytest.raises(InvalidInput, match="reason"):
        Lifecycle(store).decide("cp-1", action="reject", reason=" ", by="alice")
    with pytest.raises(InvalidInput, match="action"):
        Lifecycle(store).decide("cp-1", action="maybe", by="alice")
    decision = Lifecycle(store).decide("cp-1", action="reject", reason="uses the network", by="alice")
    assert decision.decided_by == "alice" and decision.decided_at is not None
    with pytest.raises(Conflict):
        Lifecycle(store).decide("cp-1", action="approve", by="bob")
    assert get_checkpoint(store, "cp-1").status == "decided"
    assert list_checkpoints(store, status="pending") == []


def test_concurrent_decisions_let_exactly_one_win(store: Store) -> None:
    job_id = _job(store)
    _open(store, "cp-race", job_id, "idea", {}, [])
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def decide(who: str) -> None:
        barrier.wait()
        try:
            Lifecycle(store).decide("cp-race", action="approve", by=who)
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(f"user{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 3 + ["won"]


def test_migrating_twice_keeps_data(store: Store) -> None:
    job_id = _job(store)
    store.migrate()
    assert get_job(store, job_id).task_name == "digits"


def test_a_finished_job_closes_its_pending_checkpoints(store: Store) -> None:
    job_id = _job(store)
    other = _job(store)
    _open(store, "cp-a", job_id, "idea", {}, [])
    _open(store, "cp-b", other, "idea", {}, [])
    Lifecycle(store).move(job_id, "running")
    Lifecycle(store).move(job_id, "failed", error="the sandbox image is missing")
    assert [c.id for c in list_checkpoints(store, status="pending")] == ["cp-b"]
    assert get_checkpoint(store, "cp-a").status == "cancelled"
    with pytest.raises(Conflict):
        Lifecycle(store).decide("cp-a", action="approve", by="alice")
