"""A search job on a task whose optimum is known beats its baseline within its budget."""

from __future__ import annotations

from pathlib import Path

from agents.verify import RULE
from services.collaborators import Collaborators
from services.memory import LexicalEmbedder, open_memory
from services.settings import Settings
from services.store import Store, list_experiments
from tests.agents.conftest import QUAD_SPACE, QUADRATIC, make_task, run_job


def test_search_job_beats_the_baseline_and_verifies_it(tmp_path: Path, settings: Settings, store: Store,
                                                        sandbox: object) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 3})
    outcome = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search")  # type: ignore[arg-type]

    assert outcome.status == "succeeded", outcome.error
    summary = outcome.summary
    assert summary["baseline"]["score"] == -32.5
    assert summary["best"]["metrics"]["score"] > -32.5
    assert summary["best"]["experiment_id"].endswith("-candidate-0")
    verified = [f for f in summary["findings"] if f["accepted"]]
    assert verified and all(f["mean_gain"] > 0 and f["n"] == 2 and f["rule"] == RULE for f in verified)
    assert "iteration budget reached (3 iterations)" in summary["stop_reason"]

    rows = list_experiments(store, outcome.job_id)
    assert summary["experiments"] == len(rows) == len({r.id for r in rows})
    assert all(r.status == "succeeded" for r in rows)
    candidates = [r for r in rows if r.role == "candidate"]
    assert len(candidates) == 3 and all(set(r.params) == {"x", "y"} for r in candidates)
    assert all('"x"' in r.diff for r in candidates)  # the params.json change is stored as a diff

    report = Path(summary["report"])
    text = report.read_text()
    assert report.parent == settings.runs_dir / outcome.job_id
    assert (report.parent / "metric.png").stat().st_size > 1000
    for heading in ("## Question", "## Baseline", "## Findings", "## Experiments", "## Human decisions"):
        assert heading in text
    assert RULE in text and all(r.id in text for r in rows)


def test_a_second_search_job_warm_starts_from_what_memory_recalls(tmp_path: Path, settings: Settings,
                                                                 store: Store, sandbox: object) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 2})
    memory = open_memory(settings, embedder=LexicalEmbedder())
    parts = Collaborators(runner=sandbox, memory=memory)  # type: ignore[arg-type]
    first = run_job(store, settings, task, parts, strategy="search")
    second = run_job(store, settings, task, parts, strategy="search")

    assert first.status == second.status == "succeeded"
    outcomes = memory.records("findings", where={"job_id": first.job_id})
    assert len(outcomes) == 3  # the baseline and both iterations, negative results included
    report = Path(second.summary["report"]).read_text()
    assert "(2 recalled from memory)" in report  # the first job's two candidates seeded the sampler
