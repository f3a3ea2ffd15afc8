"""The paper's parts on their own: the claim check, references, and a PDF that fetches nothing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pypdf import PdfReader

from agents.paper.claims import check, numerals
from agents.paper.journal import Journal, interval
from agents.paper.pdf import PdfUnavailable, render_pdf, to_html
from agents.task import Task
from tests.utils.hostile_tasks import Listener

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def test_the_claim_check_lists_typed_numerals_but_not_references_counts_code_or_the_task_text() -> None:
    prose = {
        "abstract": "In the 1996 election we reach {{best}} in 3 rounds, with node r2s0 and `lr=0.3`.",
        "results": "A gain of 0.042 (that is 4.2%) over 1,000 samples; log1p helps.\n```\nx = 12.5\n```",
    }
    claims = check(prose, task_text="Predict the 1996 vote.", counts={3})
    assert [(c.numeral, c.section) for c in claims] == [("0.042", "results"), ("4.2%", "results"),
                                                        ("1,000", "results")]
    assert "A gain of 0.042" in claims[0].context
    assert check({"results": "1000 samples"}, task_text="", counts=set()) != []
    assert numerals("0.50, 1,000 and −3") == {"0.5", "1000", "3"}


def test_references_render_from_the_journal_and_unknown_ones_are_named() -> None:
    task = Task.model_validate({"name": "t", "goal": "g", "metric": {"name": "score", "direction": "minimize"},
                                "entrypoint": "python3 e.py"})
    node = {"id": "r1s0", "parent": "root", "operator": "improve", "round": 1, "idea": {"title": "Try x=2"},
            "value": 0.25, "metrics": {"score": 0.25, "time": 3.0}, "fate": "verified",
            "verdict": {"verified": True, "mean_gain": 0.5, "stderr": 0.1, "n": 4, "baseline_gain": 0.75,
                        "pairs": {}, "baseline_pairs": {}}}
    root = {**node, "id": "root", "parent": None, "round": 0, "value": 1.0, "verdict": None, "fate": "baseline"}
    state = {"job_id": "j", "baseline": {"value": 1.0}, "incumbent": "r1s0", "nodes": [root, node], "findings": []}
    journal = Journal(task, state)  # type: ignore[arg-type]
    low, high = interval(0.5, 0.1, 4) or (0, 0)
    text, unknown = journal.render("{{best}} vs {{baseline}}; {{node r1s0 time}}; {{gain r1s0}} {{ci r1s0}} "
                                   "{{title r1s0}}; {{node r9s9}} {{gain root}} {{nonsense}}")
    assert text.startswith(f"0.25 vs 1; 3; 0.5 [{low:.4g}, {high:.4g}] Try x=2; ")
    assert low < 0.5 < high and high - low == pytest.approx(2 * 3.182446 * 0.1, rel=1e-4)  # t(0.975; 3)
    assert unknown == ["node r9s9", "gain root", "nonsense"] and "[unknown reference: nonsense]" in text


def test_the_pdf_inlines_the_papers_figures_and_fetches_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "metric.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(PNG)
    with Listener().running() as listener:
        url = f"http://127.0.0.1:{listener.port}"
        markdown = (f"# Title\n\n![ok](metric.png)\n\n![remote]({url}/img.png)\n\n![elsewhere](secret.png)\n\n"
                    f"<img src=\"{url}/raw.png\"><script>fetch('{url}/js')</script>\n\n[a link]({url}/link)\n")
        page = to_html(markdown, tmp_path, {"metric.png"})
        assert page.count("data:image/png;base64,") == 1 and "[image: remote]" in page and "[image: elsewhere]" in page
        assert "<script>" not in page and "<img src=\"http" not in page  # raw HTML is escaped text
        render_pdf(markdown, tmp_path, {"metric.png"}, tmp_path / "paper.pdf")
        assert listener.paths == []  # the remote image, the raw img and the script were never fetched
    text = " ".join(p.extract_text() for p in PdfReader(tmp_path / "paper.pdf").pages)
    assert "Title" in text and "[image: remote]" in text


def test_without_chromium_the_pdf_is_unavailable_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PdfUnavailable, match="Chromium"):
        render_pdf("# t", tmp_path, set(), tmp_path / "paper.pdf", browser=str(tmp_path / "no-such-chromium"))
    assert not (tmp_path / "paper.pdf").exists()
