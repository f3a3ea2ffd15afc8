"""The job lifecycle against its own tables, on SQLite and PostgreSQL alike.

Every (from, to) pair of job statuses is tried: the lifecycle moves a job exactly when
``JOB_TRANSITIONS`` says it may, and refuses the rest with a Conflict that leaves the job as it
was. The same for checkpoints, and for what the lifecycle announces.
"""

from __future__ import annotations

import itertools

import pytest

from services.errors import Conflict
from services.lifecycle import Lifecycle
from services.outcomes import Checkpoint, Finished, Paused
from services.statuses import (
    CHECKPOINT_TRANSITIONS,
    FINISHED,
    JOB_STATUSES,
    JOB_TRANSITIONS,
    JobStatus,
    job_move_is_legal,
)
from services.store import (
    Store,
    create_job,
    events_after,
    get_checkpoint,
    get_job,
    list_checkpoints,
)

PAIRS = list(itertools.product(JOB_STATUSES, repeat=2))


def _job(store: Store, status: JobStatus = "queued") -> str:
    return create_job(store, task_name="digits", task_dir="/t/digits", strategy="search", status=status).id


def _paused(job_id: str, n: int = 0) -> Paused:
    return Paused((Checkpoint(f"{job_id}-r1s{n}-idea-0", job_id, "idea", {"title": "try x"}, []),))


def test_the_table_names_every_status_and_never_leaves_a_finished_one() -> None:
    assert set(JOB_TRANSITIONS) == set(JOB_STATUSES)
    assert all(JOB_TRANSITIONS[s] == frozenset() for s in FINISHED)
    assert all(to in JOB_STATUSES for targets in JOB_TRANSITIONS.values() for to in targets)
    assert set(CHECKPOINT_TRANSITIONS["pending"]) == {"decided", "cancelled"}
    # The rules the issue names, read from the table itself:
    assert not job_move_is_legal("succeeded", "running") and not job_move_is_legal("cancelled", "waiting")
    assert not job_move_is_legal("queued", "succeeded")  # only a graph that ran can succeed
    assert job_move_is_legal("waiting", "running") and job_move_is_legal("running", "running")


@pytest.mark.parametrize(("before", "after"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_a_job_moves_exactly_as_the_table_says(store: Store, before: JobStatus, after: JobStatus) -> None:
    job_id = _job(store, before)
    lifecycle = Lifecycle(store)
    if after in JOB_TRANSITIONS[before]:
        moved = lifecycle.move(job_id, after, error="why" if after == "failed" else None)
        row = get_job(store, job_id)
        assert moved.status == row.status == after
        assert (row.finished_at is not None) == (after in FINISHED)
        assert (row.started_at is not None) == (after == "running")
    else:
        with pytest.raises(Conflict, match=f"cannot become {after}"):
            lifecycle.move(job_id, after)
        row = get_job(store, job_id)
        assert row.status == before and row.finished_at is None and row.error is None


def test_a_finished_job_closes_its_checkpoints_and_a_decision_on_them_is_a_conflict(store: Store) -> None:
    job_id = _job(store)
    lifecycle = Lifecycle(store)
    (row,) = lifecycle.pause(_paused(job_id))
    assert row.status == "pending" and get_job(store, job_id).status == "waiting"
    lifecycle.request_cancel(job_id)
    lifecycle.cancel(job_id)
    assert get_checkpoint(store, row.id).status == "cancelled"
    with pytest.raises(Conflict, match="no longer be decided"):
        lifecycle.decide(row.id, action="approve", by="alice")
    with pytest.raises(Conflict, match="nothing to cancel"):
        lifecycle.request_cancel(job_id)


def test_a_checkpoint_is_decided_once(store: Store) -> None:
    job_id = _job(store, "running")
    lifecycle = Lifecycle(store)
    (row,) = lifecycle.pause(_paused(job_id))
    lifecycle.decide(row.id, action="approve", by="alice")
    with pytest.raises(Conflict, match="already decided"):
        lifecycle.decide(row.id, action="reject", reason="no", by="bob")
    assert get_checkpoint(store, row.id).status == "decided"


def test_pauses_and_ends_are_announced_once(store: Store) -> None:
    job_id = _job(store)
    lifecycle = Lifecycle(store)
    lifecycle.start(job_id)
    paused = Paused((_paused(job_id, 0).checkpoint, _paused(job_id, 1).checkpoint))  # two branches at two gates
    assert [r.status for r in lifecycle.pause(paused)] == ["pending", "pending"]
    lifecycle.pause(paused)  # seen again (a restart): recorded, not announced again
    assert len(list_checkpoints(store, job_id=job_id)) == 2
    for checkpoint in paused.checkpoints:
        lifecycle.decide(checkpoint.id, action="approve", by="alice")
    lifecycle.start(job_id)
    lifecycle.finish(Finished(job_id, "succeeded", {"llm_tokens": 7}))
    lifecycle.finish(Finished(job_id, "succeeded", {"llm_tokens": 7}))  # a second report of the end: dropped
    kinds = [e.kind for e in events_after(store, job_id)]
    assert kinds == ["job.running", "checkpoint.created", "checkpoint.created", "job.waiting", "checkpoint.decided",
                     "checkpoint.decided", "job.running", "job.finished"]
    (waiting,) = [e.data for e in events_after(store, job_id) if e.kind == "job.waiting"]
    assert waiting == {"checkpoints": [{"checkpoint_id": c.id, "kind": c.kind} for c in paused.checkpoints]}
    finished = [e.data for e in events_after(store, job_id) if e.kind == "job.finished"]
    assert finished == [{"status": "succeeded", "error": None, "llm_tokens": 7}]


def test_a_cancelled_job_keeps_its_end_and_gains_its_report(store: Store) -> None:
    job_id = _job(store, "running")
    lifecycle = Lifecycle(store)
    lifecycle.request_cancel(job_id)
    lifecycle.cancel(job_id)  # the user's cancel ends the job at once
    late = {"status": "cancelled", "report": "/runs/report.md"}
    lifecycle.finish(Finished(job_id, "cancelled", late))  # its graph, stopping at decide, reports later
    lifecycle.finish(Finished(job_id, "succeeded", {"report": "/elsewhere"}))  # a different end never wins
    row = get_job(store, job_id)
    assert row.status == "cancelled" and row.summary == late
    assert [e.kind for e in events_after(store, job_id)].count("job.finished") == 1
