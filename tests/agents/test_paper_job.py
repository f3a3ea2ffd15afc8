"""A job with --paper writes runs/JOB/paper/: the numbers from the journal, checked, printed and reviewed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from agents.paper.journal import interval
from agents.paper.review_form import PaperReview
from agents.report import fmt
from services.collaborators import Collaborators
from services.outcomes import Checkpoint
from services.settings import Settings
from services.store import Store, events_after, list_decisions
from tests.agents.conftest import QUAD_SPACE, QUADRATIC, QUALITY, make_task, model_parts, run_job
from tests.utils.fake_literature import FakeLiterature, Reply
from tests.utils.fake_llm import FakeLLM

IDEA = json.dumps({"title": "Raise the quality", "hypothesis": "a bonus lifts the score", "plan": "return more",
                   "params": {}})
CHANGE = json.dumps({"explanation": "a bonus", "edits": [
    {"path": "experiment.py", "search": "    return 0.5", "replace": "    return 0.75"}]})
REVIEW = json.dumps({"summary": "the bonus lifted the score", "lesson": "quality() dominates"})
CRITIQUE = json.dumps({"soundness": "a constant bonus", "confounds": [], "ablation": "remove the bonus", "flaw": ""})
SECTIONS = {"title": "A bonus for quality", "introduction": "We study the quality task.",
            "method": "Ideas from a model; verification on held-out seeds: {{rule}}.",
            "limitations": "One task only."}
INVENTED = json.dumps({**SECTIONS, "abstract": "The bonus reaches {{node r1s0}} against {{baseline}}.",
                       "results": "Node r1s0 gains {{gain r1s0}} (95% interval {{ci r1s0}}, {{n r1s0}} pairs) and "
                                  "reaches an accuracy of 0.99 on held-out data."})
CLEAN = json.dumps({**SECTIONS, "abstract": "The bonus reaches {{node r1s0}} against {{baseline}}.",
                    "results": "Node r1s0 gains {{gain r1s0}} (95% interval {{ci r1s0}}) over {{n r1s0}} pairs."})
FORM = {"summary": "A constant bonus.", "strengths": "clear", "weaknesses": "one task", "questions": "why?",
        "limitations": "toy", "soundness": 3, "presentation": 3, "contribution": 2, "overall": 6, "confidence": 4,
        "decision": "accept"}
META = json.dumps({"summary": "Sound but small.", "strengths": "clear", "weaknesses": "toy", "overall": 6,
                   "decision": "accept"})


def _one_verified_round(tmp_path: Path, llm: FakeLLM) -> Path:
    """A one-round task whose model makes one change that verifies (0.5 → 0.75), critiqued."""
    llm.add("ideate", IDEA)
    llm.add("implement", CHANGE)
    llm.add("review", REVIEW)
    llm.add("critique", CRITIQUE)
    return make_task(tmp_path / "quality", name="quality", code=QUALITY, budget={"iterations": 1})


def _pdf_text(path: Path) -> str:
    return " ".join(page.extract_text() for page in PdfReader(path).pages)


def test_a_search_job_with_paper_writes_a_pdf_stating_the_baseline_and_the_best(
    tmp_path: Path, settings: Settings, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 2})
    outcome = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search",  # type: ignore[arg-type]
                      paper=True)

    assert outcome.status == "succeeded", outcome.error
    summary = outcome.summary
    folder = settings.runs_dir / outcome.job_id / "paper"
    assert summary["paper"]["status"] == "published" and summary["paper"]["source"] == "template"
    assert summary["paper"]["pdf"] == str(folder / "paper.pdf")
    text = _pdf_text(folder / "paper.pdf")
    best = summary["best"]["metrics"]["score"]
    assert fmt(-32.5).lstrip("-") in text and fmt(best).lstrip("-") in text, text[:2000]
    assert "Verified search on quad" in text and "Limitations" in text
    paper = (folder / "paper.md").read_text()
    assert "{{" not in paper  # every reference rendered
    review = PaperReview.model_validate_json((folder / "review.json").read_text())
    # The templates state results only through references: nothing for the claim check to list.
    assert review.claims == [] and review.status == "published"
    assert review.reviews == [] and "no model is configured" in (review.unavailable or "")
    assert {f.file for f in review.figures} >= {"metric.png", "tree.png"}
    assert all((folder / f.file).stat().st_size > 1000 for f in review.figures)


def test_a_model_paper_renders_the_journal_flags_an_invented_number_and_is_revised_on_a_reason(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = _one_verified_round(tmp_path, llm)
    llm.add("paper", INVENTED, CLEAN)
    # Reviewer 3's replies never parse (three attempts); the revision's reviews all do.
    llm.add("paper_review", json.dumps(FORM), json.dumps({**FORM, "overall": 5}), "no", "still no", "{\"x\": 1}",
            *[json.dumps(FORM)] * 3)
    llm.add("paper_meta", META, META)
    asked: list[Checkpoint] = []

    def decide(cp: Checkpoint) -> dict[str, Any]:
        asked.append(cp)
        if cp.kind == "paper":
            return {"action": "reject", "reason": "the 0.99 is not in the journal", "by": "test"}
        return {"action": "approve", "by": "test"}

    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm", paper=True,
                      on_checkpoint=decide)

    assert outcome.status == "succeeded", outcome.error
    (first,) = [cp for cp in asked if cp.kind == "paper"]  # asked once: the revision has nothing to flag
    assert first.id == f"{outcome.job_id}-paper-0"
    payload = first.payload
    assert [c["numeral"] for c in payload["claims"]] == ["0.99"] and payload["claims"][0]["section"] == "results"
    assert any("claim check" in flag and "'0.99'" in flag for flag in first.flagged)
    (finding,) = outcome.summary["findings"]
    low, high = interval(finding["mean_gain"], finding["stderr"], finding["n"]) or (0.0, 0.0)
    draft = payload["markdown"]
    assert f"reaches {fmt(finding['value'])} against {fmt(0.5)}" in draft
    assert f"gains {fmt(finding['mean_gain'])} (95% interval [{fmt(low)}, {fmt(high)}], {finding['n']} pairs)" in draft
    assert payload["prose"]["results"].startswith("Node r1s0 gains {{gain r1s0}}")  # what an edit replaces
    assert "- **r1s0**: soundness: a constant bonus; confounds: none named; suggested ablation: remove the bonus" in draft
    reviews = payload["review"]
    assert [r["reviewer"] for r in reviews["reviews"]] == [1, 2] and reviews["meta"]["decision"] == "accept"
    assert [f["reviewer"] for f in reviews["failed"]] == [3]

    # The reason reached the model, and the revision is what was published.
    revise_prompt = llm.prompts("paper")[1]
    assert "the 0.99 is not in the journal" in revise_prompt and "0.99 on held-out data" in revise_prompt
    folder = llm_settings.runs_dir / outcome.job_id / "paper"
    review = PaperReview.model_validate_json((folder / "review.json").read_text())
    assert review.status == "published" and review.claims == [] and len(review.reviews) == 3
    assert "0.99" not in (folder / "paper.md").read_text()
    assert fmt(finding["value"]) in _pdf_text(folder / "paper.pdf")
    assert outcome.summary["paper"]["status"] == "published"
    decided = [d for d in list_decisions(store, outcome.job_id) if d.checkpoint_id.endswith("-paper-0")]
    assert [d.action for d in decided] == ["reject"]
    # Each reviewer saw the claim check's output; the revision's reviewers saw a clean one.
    prompts = llm.prompts("paper_review")
    assert "'0.99' in results" in prompts[0] and "found no numeral" in prompts[-1]


def test_replies_that_never_parse_leave_a_template_paper_and_the_review_unavailable(
    tmp_path: Path, llm: FakeLLM, llm_settings: Settings, store: Store, sandbox: object
) -> None:
    task = _one_verified_round(tmp_path, llm)
    llm.add("paper", "Here is the paper!", "{", "[]")
    llm.add("paper_review", *["not a review"] * 9)

    outcome = run_job(store, llm_settings, task, model_parts(sandbox, llm_settings), strategy="llm", paper=True)

    assert outcome.status == "succeeded", outcome.error
    folder = llm_settings.runs_dir / outcome.job_id / "paper"
    review = PaperReview.model_validate_json((folder / "review.json").read_text())
    assert review.source == "template" and review.reviews == [] and review.meta is None
    assert "no reviewer's reply could be used" in (review.unavailable or "")
    assert [f.reviewer for f in review.failed] == [1, 2, 3]
    assert llm.calls("paper") == 3 and llm.calls("paper_review") == 9 and llm.calls("paper_meta") == 0
    assert (folder / "paper.pdf").stat().st_size > 1000
    (event,) = [e.data for e in events_after(store, outcome.job_id, limit=1000) if e.kind == "paper"]
    assert "the model's write-up could not be used" in event["note"] and "did not parse" in event["note"]


def test_the_papers_references_come_from_a_literature_search_that_never_blocks_it(
    tmp_path: Path, home: Path, store: Store, sandbox: object
) -> None:
    task = make_task(tmp_path / "quad", name="quad", code=QUADRATIC, params=QUAD_SPACE, budget={"iterations": 1})
    found = {"data": [{"paperId": "p1", "title": "Bayesian optimisation ![x](http://127.0.0.1:9/leak)",
                       "authors": [{"name": "Ada Lovelace"}], "year": 2012, "venue": "NeurIPS",
                       "url": "https://example.org/p1"}]}
    with FakeLiterature([Reply(200, found)], default=Reply(429)) as literature:
        settings = Settings(home=home, llm_base_url=None, llm_api_key=None, literature_url=literature.base_url)
        cited = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search",  # type: ignore[arg-type]
                        paper=True)
        refused = run_job(store, settings, task, Collaborators(runner=sandbox), strategy="search",  # type: ignore[arg-type]
                          paper=True)

    assert cited.status == refused.status == "succeeded", (cited.error, refused.error)
    assert literature.requests[0].query["query"] == "quad Maximise the score of quad."
    paper = (home / "runs" / cited.job_id / "paper" / "paper.md").read_text()
    assert "Ada Lovelace" in paper and "Bayesian optimisation" in paper and "2012" in paper
    assert "![x](http" not in paper  # a title cannot add an image (or a link) to the paper
    # The service refused the second job's search three times: that paper went on without it.
    assert len(literature.requests) == 4
    assert "No literature was cited." in (home / "runs" / refused.job_id / "paper" / "paper.md").read_text()
    (event,) = [e.data for e in events_after(store, refused.job_id, limit=1000)
                if e.kind == "paper" and "literature" in e.data]
    assert "429" in event["literature"]
    assert (home / "runs" / refused.job_id / "paper" / "paper.pdf").is_file()
