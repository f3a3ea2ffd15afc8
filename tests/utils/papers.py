"""A written-up job's paper folder (``runs/JOB/paper/``) as the paper writer leaves it, for the API
and app tests: paper.md with its figures, a real one-page PDF, and a review.json on the form."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from pypdf import PdfWriter

from agents.checkpoints import PaperPayload
from agents.paper.review_form import Claim, FailedReview, Figure, MetaReview, PaperReview, Reviewed

PROSE = {
    "title": "Moving x towards 1 raises the score",
    "abstract": "We move x from {{param root x}} and gain {{gain r1s0}}.",
    "introduction": "The task asks for a high score.",
    "method": "A search over x, each change verified on paired seeds.",
    "results": "The best node r1s0 scores {{node r1s0 score}}.",
    "limitations": "One task, 3 seeds.",
}
PAPER_MD = """# Moving x towards 1 raises the score

## Abstract

We move x from -2 and gain 8.9.

## Results

![The metric over rounds](metric.png)

![The tree of solutions](tree.png)

| node | score |
| --- | --- |
| r1s0 | -0.1 |

See [the code](https://example.org/code) and [the task](#task).
"""


def png(width: int = 8, height: int = 8) -> bytes:
    """A real PNG of one grey colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pdf() -> bytes:
    """A real one-page PDF."""
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def review(*, pdf_error: str = "", claims: bool = True) -> PaperReview:
    """review.json: two reviews (one reject), a meta-review, a failed reviewer and, with ``claims``, one
    numeral no reference accounts for."""
    form = {"summary": "Moves x towards 1.", "strengths": "Paired seeds.", "weaknesses": "One task only.",
            "questions": "Why 3 seeds?", "limitations": "Says so."}
    return PaperReview(
        status="published", source="template",
        reviews=[Reviewed(reviewer=1, soundness=3, presentation=2, contribution=2, overall=6, confidence=4,
                          decision="accept", **form),
                 Reviewed(reviewer=2, soundness=2, presentation=3, contribution=1, overall=3, confidence=3,
                          decision="reject", **{**form, "weaknesses": "<img src=x onerror=alert(1)> too small"})],
        meta=MetaReview(summary="A small, honest result.", overall=5, decision="accept"),
        failed=[FailedReview(reviewer=3, reason="the reply was not JSON")],
        claims=[Claim(numeral="3", section="limitations", context="One task, 3 seeds.")] if claims else [],
        figures=[Figure(file="metric.png", caption="The metric over rounds"),
                 Figure(file="tree.png", caption="The tree of solutions")],
        pdf_error=pdf_error,
    )


def write_paper(job_dir: Path, *, with_pdf: bool = True, pdf_error: str = "") -> Path:
    """The paper folder of ``job_dir`` (made), as the writer leaves it; without the PDF when it
    could not be rendered (``pdf_error`` says why)."""
    folder = job_dir / "paper"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "paper.md").write_text(PAPER_MD, encoding="utf-8")
    (folder / "metric.png").write_bytes(png())
    (folder / "tree.png").write_bytes(png(16, 4))
    (folder / "notes.txt").write_text("a file in paper/ that paper.md does not link")
    if with_pdf:
        (folder / "paper.pdf").write_bytes(pdf())
    (folder / "review.json").write_text(review(pdf_error=pdf_error).model_dump_json(indent=2), encoding="utf-8")
    return folder


def paper_payload() -> PaperPayload:
    """What the paper gate shows a human: the draft, its claim check and its reviews."""
    judged = review()
    return PaperPayload(
        title=PROSE["title"], revision=0, source="template", markdown=PAPER_MD, prose=PROSE,
        claims=[c.model_dump() for c in judged.claims],
        review=judged.model_dump(include={"reviews", "meta", "unavailable", "failed"}),
        figures=[f.model_dump() for f in judged.figures], pdf="paper/paper.pdf",
    )
