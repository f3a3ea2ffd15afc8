"""The memory contract, run against the embedded client and a real ``chroma run`` server.

Real Chroma, real embedder (the offline lexical one), no mocks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

from agents.novelty import check_novelty
from agents.recall import (
    feedback_record,
    idea_record,
    idea_text,
    outcome_record,
    recall_for_ideation,
)
from services.errors import EmbedderMismatch
from services.memory import EmbedderSource, LexicalEmbedder, chroma_client, open_memory
from services.memory.literature import ingest_literature
from services.memory.store import ChromaMemory
from tests.memory.conftest import Backend

REPO = Path(__file__).resolve().parents[2]

TRIED = idea_text(
    "Increase the L2 regularisation strength",
    "Stronger L2 regularisation of the logistic regression should reduce overfitting on the small digits set",
)
OTHERS = [
    idea_text("Standardise the pixel features", "Scaling each pixel to unit variance helps the solver converge"),
    idea_text("Switch the solver to saga", "saga handles the l1 penalty and large C better"),
    idea_text("Augment with shifted images", "One-pixel shifts of the training digits add robustness"),
]


def _seed_ideas(memory: ChromaMemory, task: str = "digits", job: str = "job1") -> None:
    for i, text in enumerate([TRIED, *OTHERS], start=1):
        rid, _, meta = idea_record(job_id=job, task=task, iteration=i, title=text, fate="no_gain",
                                   metric="accuracy", metric_value=0.9)
        memory.add("ideas", rid, text, meta)


def test_records_survive_a_restart_of_the_process(backend: Backend) -> None:
    writer = f"""
import sys
from pathlib import Path
from agents.recall import idea_record, outcome_record
from services.memory import LexicalEmbedder, open_memory
from services.settings import Settings
settings = Settings(home=Path({str(backend.home)!r}), chroma_url={backend.settings.chroma_url!r})
with open_memory(settings, embedder=LexicalEmbedder(), namespace={backend.namespace!r}) as memory:
    memory.add("findings", *outcome_record(job_id="job1", task="digits", iteration=1, metric="accuracy",
               metric_value=0.97, params={{"C": 0.5}}, baseline_value=0.95, title="Tune C"))
    memory.add("ideas", *idea_record(job_id="job1", task="digits", iteration=1, title="Tune C"))
"""
    subprocess.run([sys.executable, "-c", writer], cwd=REPO, check=True, timeout=120)
    backend.restart()
    # A fresh client, and no pinned embedder: the recorded one is rebuilt from metadata.
    with open_memory(backend.settings, namespace=backend.namespace) as memory:
        assert memory.embedder("findings").name == "lexical-hash-v1"
        [finding] = memory.records("findings", where={"task": "digits"})
        assert finding.id == "finding:job1:1"
        assert finding.metadata["metric_value"] == pytest.approx(0.97)
        assert finding.metadata["params"] == '{"C": 0.5}'
        assert memory.nearest("ideas", "tune c", k=1)[0].id == "idea:job1:1:0"


def test_rewriting_a_record_overwrites_it(memory: ChromaMemory) -> None:
    args = dict(job_id="job1", task="digits", iteration=2, metric="accuracy", metric_value=0.96,
                params={"C": 2.0}, baseline_value=0.95)
    memory.add("findings", *outcome_record(**args))  # type: ignore[arg-type]
    memory.add("findings", *outcome_record(**args, verified=True))  # type: ignore[arg-type]
    [record] = memory.records("findings")
    assert record.metadata["verified"] is True and record.metadata["fate"] == "verified"
    assert memory.count("findings") == 1


def test_filters_by_task_job_and_verified(memory: ChromaMemory) -> None:
    rows = [("digits", "job1", 1, 0.95, False), ("digits", "job1", 2, 0.97, True),
            ("digits", "job2", 1, 0.96, True), ("iris", "job3", 1, 0.90, True)]
    for task, job, it, value, verified in rows:
        memory.add("findings", *outcome_record(job_id=job, task=task, iteration=it, metric="accuracy",
                                               metric_value=value, params={"C": it}, verified=verified,
                                               title=f"{task} tuning of C"))
    assert len(memory.records("findings", where={"task": "digits"})) == 3
    assert {r.id for r in memory.records("findings", where={"job_id": "job1"})} == {
        "finding:job1:1", "finding:job1:2"}
    verified = memory.nearest("findings", "tuning of C", k=10, where={"task": "digits", "verified": True})
    assert {r.id for r in verified} == {"finding:job1:2", "finding:job2:1"}
    assert all(r.distance is not None and 0 <= r.distance <= 2 for r in verified)
    hits = memory.search("iris tuning", kinds=["findings"], where={"verified": True}, k=2)
    assert hits[0].metadata["task"] == "iris"


def test_a_near_duplicate_idea_is_flagged_and_a_different_one_is_not(memory: ChromaMemory) -> None:
    _seed_ideas(memory)
    reworded = idea_text(
        "TO REDUCE OVERFITTING ON THE DIGITS SET, STRENGTHEN THE L2 REGULARIZATION",
        "a stronger l2 regularization of logistic regression",
    )
    verdict = check_novelty(memory, task="digits", idea_text=reworded)
    assert not verdict.novel, verdict.reason
    assert verdict.too_close[0].id == "idea:job1:1:0"
    assert "Increase the L2 regularisation strength" in verdict.reason
    assert "job job1" in verdict.reason
    different = idea_text("Replace the classifier with a random forest",
                          "An ensemble of 300 decision trees captures non-linear pixel interactions")
    fresh = check_novelty(memory, task="digits", idea_text=different)
    assert fresh.novel, fresh.reason
    assert fresh.neighbours and all(n.distance >= fresh.threshold for n in fresh.neighbours)
    # Tried in another task only: not a repeat for this one.
    assert check_novelty(memory, task="iris", idea_text=reworded).novel


def test_a_rejected_ideas_reason_comes_back_for_a_similar_idea(memory: ChromaMemory) -> None:
    _seed_ideas(memory)
    rejected = idea_text("Train a deep convolutional neural network", "on the raw pixel images")
    reason = "GPU-heavy models are out of budget for this task"
    rid, _, meta = idea_record(job_id="job1", task="digits", iteration=5, title=rejected,
                               fate="rejected", reason=reason)
    memory.add("ideas", rid, rejected, meta)
    memory.add("feedback", *feedback_record(job_id="job1", task="digits", iteration=5, checkpoint_id="cp-7",
                                            checkpoint_kind="idea", action="reject", subject=rejected,
                                            reason=reason, decided_by="alice"))
    similar = idea_text("a convolutional neural network (deep) trained on raw pixels")
    verdict = check_novelty(memory, task="digits", idea_text=similar)
    assert not verdict.novel
    assert reason in verdict.reason and "rejected by a human" in verdict.reason
    assert reason in verdict.reasons.values()
    # Rejections count in every task, not only the one they were made in.
    assert not check_novelty(memory, task="mnist", idea_text=similar).novel
    recall = recall_for_ideation(memory, task="digits", query=similar, direction="maximize")
    assert recall.rejections and recall.rejections[0].metadata["reason"] == reason
    assert reason in recall.as_prompt_text()


def test_a_collection_refuses_another_embedder(backend: Backend) -> None:
    with backend.open() as memory:
        memory.add("ideas", *idea_record(job_id="job1", task="digits", iteration=1, title="Tune C"))
    with backend.open(LexicalEmbedder(dimension=256)) as other, pytest.raises(EmbedderMismatch) as err:
        other.nearest("ideas", "Tune C")
    assert "lexical-hash-v1 (384 dims)" in str(err.value) and "256 dims" in str(err.value)
    endpoint = EmbedderSource(endpoint_model="text-embedding-3-small", base_url="http://127.0.0.1:9/v1")
    client = chroma_client(url=backend.settings.chroma_url, path=backend.home / "chroma")
    with pytest.raises(EmbedderMismatch) as err:
        ChromaMemory(client, endpoint, namespace=backend.namespace).add("ideas", "x", "Tune C", {})
    message = str(err.value)
    assert "openai:text-embedding-3-small" in message and "lexical-hash-v1" in message
    assert "LABLOOP_EMBEDDING_MODEL" in message  # says how to fix it
    with backend.open() as same:  # the recorded embedder still works
        assert same.nearest("ideas", "tune c", k=1)[0].text.startswith("Tune C")


def _write_pdf(path: Path, pages: list[str]) -> None:
    matplotlib.use("pdf")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path) as pdf:
        for text in pages:
            fig = plt.figure(figsize=(6, 4))
            fig.text(0.05, 0.5, text)
            pdf.savefig(fig)
            plt.close(fig)


def test_literature_gives_passages_with_source_and_page(memory: ChromaMemory, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes on digits\n\nPixel standardisation speeds up the lbfgs solver.\n\n"
                     + "Filler sentence about nothing in particular. " * 40
                     + "\n\nEarly stopping avoids wasted iterations.\n", encoding="utf-8")
    log = tmp_path / "lab-log.txt"
    log.write_text("Monday: tried polynomial features of degree two; accuracy fell.\n", encoding="utf-8")
    paper = tmp_path / "paper.pdf"
    _write_pdf(paper, ["Gradient boosting works best with shallow trees.",
                       "Dropout regularises wide neural networks."])
    progress: list[str] = []
    done = ingest_literature(memory, [notes, log, paper], on_progress=progress.append)
    assert [d.source for d in done] == ["notes.md", "lab-log.txt", "paper.pdf"]
    assert done[2].pages == 2 and len(progress) == 3
    [hit] = memory.nearest("literature", "dropout for wide neural networks", k=1)
    assert (hit.metadata["source"], hit.metadata["page"]) == ("paper.pdf", 2)
    [hit] = memory.nearest("literature", "polynomial features degree two", k=1)
    assert hit.metadata["source"] == "lab-log.txt" and hit.metadata["line"] == 1
    count = memory.count("literature")
    assert count >= 5  # the long markdown paragraph was chunked
    ingest_literature(memory, [notes])  # adding a file again replaces its passages
    assert memory.count("literature") == count
    recall = recall_for_ideation(memory, task="digits", query="shallow trees for gradient boosting",
                                 direction="maximize", literature_k=1)
    assert recall.citations() == ["paper.pdf, p. 1"]
    assert "[paper.pdf, p. 1]" in recall.as_prompt_text()
    # Passages added for one task are recalled for that task only; the others are for all.
    iris = tmp_path / "iris.md"
    iris.write_text("Gradient boosting with shallow trees separates iris petals.\n", encoding="utf-8")
    ingest_literature(memory, [iris], task="iris")
    query = "gradient boosting with shallow trees"
    digits = recall_for_ideation(memory, task="digits", query=query, direction="maximize", literature_k=1)
    assert digits.citations() == ["paper.pdf, p. 1"]
    for_iris = recall_for_ideation(memory, task="iris", query=query, direction="maximize", literature_k=2)
    assert "iris.md, line 1" in for_iris.citations()


def test_recall_brings_best_worst_and_prior_trials_of_earlier_jobs(memory: ChromaMemory) -> None:
    for it, (c, loss) in enumerate([(0.1, 0.40), (1.0, 0.25), (10.0, 0.31), (100.0, 0.55)], start=1):
        memory.add("findings", *outcome_record(job_id="job1", task="reg", iteration=it, metric="loss",
                                               metric_value=loss, params={"C": c}, direction="minimize",
                                               baseline_value=0.35, verified=it == 2, title=f"C={c}"))
    memory.add("findings", *outcome_record(job_id="job1", task="reg", iteration=5, metric="loss",
                                           metric_value=None, params={"C": 1e6}, status="failed",
                                           error="did not converge"))
    memory.add("findings", *outcome_record(job_id="job2", task="reg", iteration=1, metric="loss",
                                           metric_value=0.01, params={"C": 3.0}))
    recall = recall_for_ideation(memory, task="reg", query="lower the loss", direction="minimize",
                                 exclude_job="job2", k=2)
    assert [r.metadata["params"] for r in recall.best] == ['{"C": 1.0}', '{"C": 10.0}']
    assert [r.metadata["params"] for r in recall.worst] == ['{"C": 100.0}', '{"C": 0.1}']
    assert [r.id for r in recall.verified] == ["finding:job1:2"]
    assert sorted(recall.prior_trials, key=lambda t: t[1])[0] == ({"C": 1.0}, pytest.approx(0.25))
    assert len(recall.prior_trials) == 4  # the failed run has no value, job2 is excluded
    text = recall.as_prompt_text()
    assert "Best outcomes" in text and "verified finding" in text
    empty = recall_for_ideation(memory, task="unknown", query="x", direction="maximize")
    assert empty.empty and "nothing is known" in empty.as_prompt_text()


def test_the_task_and_rejection_indexes_agree_with_chromas_filtered_query(memory: ChromaMemory) -> None:
    topics = ["learning rate", "tree depth", "dropout", "batch size", "weight decay", "momentum"]
    records = []
    for i in range(240):
        title = f"tune the {topics[i % 6]} of model {i % 7} variant {i}"
        records.append(idea_record(job_id=f"job{i % 5}", task=f"task{i % 4}", iteration=i, title=title,
                                   fate="rejected" if i % 37 == 0 else "no_gain"))
    memory.add_many("ideas", records)
    for query in ("tune the dropout of model 3", "tree depth variant 17", "something else entirely"):
        for where in ({"task": "task1"}, {"fate": "rejected"}, {"task": "task2", "fate": "rejected"},
                      {"task": "task3", "job_id": "job2"}):
            indexed = memory.nearest("ideas", query, k=5, where=where)  # answered by an index
            # The operator form is not routed: Chroma's own filtered search over all ideas.
            filtered = memory.nearest("ideas", query, k=5, where={k: {"$eq": v} for k, v in where.items()})
            assert [r.distance for r in indexed] == pytest.approx([r.distance for r in filtered], abs=1e-5)
            assert all(r.metadata[key] == value for r in indexed for key, value in where.items())
    assert memory.nearest("ideas", "anything", where={"task": "no-such-task"}) == []
    # A fate that changes away from "rejected" leaves the rejection index; deletes reach the indexes.
    rid, text, meta = records[0]
    memory.add("ideas", rid, text, {**meta, "fate": "approved"})
    assert rid not in {r.id for r in memory.nearest("ideas", text, k=20, where={"fate": "rejected"})}
    memory.delete("ideas", where={"job_id": "job1"})
    assert not [r for r in memory.nearest("ideas", query, k=50, where={"task": "task1"})
                if r.metadata["job_id"] == "job1"]
