"""Write a finished job's paper into ``runs/JOB/paper/``: figures, prose, claim check, PDF, reviews.

    paper/metric.png tree.png gains.png plot-*.png   the figures (copied from the report, or made here)
    paper/prose.json    the prose by section, references unrendered (what a human's edit replaces)
    paper/paper.md      the paper, every reference rendered from the journal, tables generated
    paper/paper.pdf     paper.md printed by headless Chromium (absent when it could not be)
    paper/review.json   the reviews, the meta-review, the claim check, the figures, why a PDF is missing
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from agents.context import ResearchContext
from agents.errors import BudgetExhausted, LLMError
from agents.figures import Gain, plot_gains
from agents.llm import TokenMeter, ask_json
from agents.llm_steps import messages
from agents.paper import citations
from agents.paper.claims import check
from agents.paper.journal import Journal, figure_captions, interval
from agents.paper.pdf import PdfUnavailable, render_pdf
from agents.paper.prose import Prose, ProseReply, from_templates, parsed
from agents.paper.review import review_paper
from agents.paper.review_form import Claim, Figure, PaperReview, PaperStatus
from agents.report import PLOT_FILE, TREE_FILE
from agents.state import ROOT, ResearchState
from agents.tree import summary as tree_summary
from agents.verify import RULE

PAPER_DIR = "paper"
SOURCE = """# {{{{title}}}}

**Abstract.** {abstract}

## Introduction

{introduction}

## Method

{method}

## Results

{results}

{{{{table results}}}}

{{{{figure metric}}}}

### Verified findings

{{{{table findings}}}}

{{{{figure gains}}}}

### Ablations

{{{{table ablations}}}}

### Negative results

Changes that looked better on seed 0 but were not verified:

{{{{table negative}}}}

{{{{figure tree}}}}

{{{{figure plots}}}}

## Limitations

{limitations}

## References

{{{{references}}}}
"""


@dataclass
class Paper:
    """A written paper: its prose (references unrendered), the rendered Markdown and what was checked."""

    prose: Prose
    source: str  # model | template | human
    markdown: str
    claims: list[Claim]
    figures: list[Figure]
    review: PaperReview
    pdf: str | None  # relative to the job's folder
    pdf_error: str
    note: str  # why the model's prose was not used, when it was not


def paper_dir(ctx: ResearchContext) -> Path:
    return ctx.job_dir / PAPER_DIR


def write_paper(ctx: ResearchContext, state: ResearchState, meter: TokenMeter, *, prose: Prose | None = None,
                source: str = "human", revise: str = "", previous: Prose | None = None,
                reviewers: int = 3) -> Paper:
    """Write the paper from ``state``: with ``prose`` (a human's), else the model's (revised on
    ``revise`` when given), else the templates'; then check, print and review it."""
    folder = paper_dir(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    journal = Journal(ctx.task, state, figures=_figures(ctx, state, folder))
    journal.references_md = _references(ctx, state)
    note = ""
    if prose is None:
        prose, source, note = _prose(ctx, journal, meter, revise=revise, previous=previous)
    markdown, unknown = journal.render(SOURCE.format(**{k: v for k, v in prose.items() if k != "title"})
                                       .replace("{{title}}", prose.get("title", "")))
    claims = check(prose, task_text=_task_text(ctx), counts=journal.counts())
    claims += [Claim(numeral=f"{{{{{ref}}}}}", section="references", context="a reference that names nothing "
                     "the journal holds") for ref in unknown]
    figures = figure_captions(journal.figures)
    (folder / "prose.json").write_text(json.dumps(prose, indent=1), encoding="utf-8")
    (folder / "paper.md").write_text(markdown, encoding="utf-8")
    pdf: str | None = f"{PAPER_DIR}/paper.pdf"
    pdf_error = ""
    (folder / "paper.pdf").unlink(missing_ok=True)
    try:
        render_pdf(markdown, folder, {f.file for f in figures}, folder / "paper.pdf", browser=ctx.chromium)
    except PdfUnavailable as exc:
        pdf, pdf_error = None, str(exc)
    try:
        review = review_paper(ctx, meter, title=prose.get("title", ""), markdown=markdown, figures=figures,
                              claims=claims, reviewers=reviewers)
    except BudgetExhausted as exc:
        review = PaperReview(unavailable=f"the job's token budget is spent: {exc}")
    paper = Paper(prose=prose, source=source, markdown=markdown, claims=claims, figures=figures, review=review,
                  pdf=pdf, pdf_error=pdf_error, note=note)
    save_review(ctx, paper, status="drafted")
    return paper


def save_review(ctx: ResearchContext, paper: Paper, *, status: PaperStatus) -> None:
    """Write review.json: the reviews with the paper's status, claims, figures and PDF error."""
    review = paper.review.model_copy(update={
        "status": status, "source": paper.source, "claims": paper.claims, "pdf_error": paper.pdf_error,
        "figures": paper.figures})
    (paper_dir(ctx) / "review.json").write_text(review.model_dump_json(indent=1), encoding="utf-8")


def set_status(ctx: ResearchContext, status: PaperStatus) -> None:
    """Mark the written paper published or rejected in its review.json."""
    path = paper_dir(ctx) / "review.json"
    review = PaperReview.model_validate_json(path.read_text(encoding="utf-8"))
    path.write_text(review.model_copy(update={"status": status}).model_dump_json(indent=1), encoding="utf-8")


def read_prose(ctx: ResearchContext) -> Prose:
    """The prose the paper was last written with."""
    raw = json.loads((paper_dir(ctx) / "prose.json").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in raw.items()}


def _task_text(ctx: ResearchContext) -> str:
    task = ctx.task
    return " ".join([task.name, task.goal, task.metric.name, json.dumps(task.model_dump(mode="json"))])


def _prose(ctx: ResearchContext, journal: Journal, meter: TokenMeter, *, revise: str,
           previous: Prose | None) -> tuple[Prose, str, str]:
    """The model's prose (source ``model``), or the templates' with why the model's was not used."""
    if ctx.strategy != "llm" or ctx.model is None:
        return from_templates(journal, strategy=ctx.strategy), "template", ""
    revision = ""
    if revise and previous:
        revision = (f"\nA human reviewer rejected the last draft for this reason: {revise}\nRevise it to answer "
                    f"that reason; the last draft's prose (JSON):\n{json.dumps(previous, indent=1)[:20_000]}\n")
    msgs = messages(ctx, "paper", task=ctx.task.name, goal=ctx.task.goal, metric=ctx.task.metric.name,
                    direction=ctx.task.metric.direction, strategy=ctx.strategy, rule=RULE,
                    facts=journal.fact_sheet(), evidence=journal.evidence(), revision=revision,
                    tree=tree_summary(ctx.task, list(journal.nodes.values()),
                                      journal.state.get("incumbent") or ROOT)[:12_000])
    try:
        reply = ask_json(ctx.model, meter, msgs, ProseReply, max_tokens=ctx.limits.reply_tokens("paper"),
                         limit_setting="LABLOOP_LLM_MAX_TOKENS_CODE")
    except (LLMError, BudgetExhausted) as exc:
        why = f"the model's write-up could not be used ({str(exc)[:300]}), so the paper is written from templates"
        return from_templates(journal, strategy=ctx.strategy), "template", why
    return parsed(reply), "model", ""


def _figures(ctx: ResearchContext, state: ResearchState, folder: Path) -> dict[str, list[Figure]]:
    """The paper's figures in ``folder``: the report's two, the paired gains, the template's plots."""
    figures: dict[str, list[Figure]] = {}
    metric = ctx.task.metric.name
    captions = {"metric": (PLOT_FILE, f"{metric} of every run on seed 0 over the rounds, with the baseline and "
                                      "the best so far."),
                "tree": (TREE_FILE, "The tree of solutions, each node coloured by its fate; the incumbent is "
                                    "outlined.")}
    for name, (file, caption) in captions.items():
        if (ctx.job_dir / file).is_file():
            shutil.copyfile(ctx.job_dir / file, folder / file)
            figures[name] = [Figure(file=file, caption=caption)]
    gains = _gains(state)
    if gains:
        plot_gains(metric, gains, folder / "gains.png")
        figures["gains"] = [Figure(file="gains.png", caption=f"Mean paired gain in {metric} of each candidate that was "
                                                "verified (green) or refused (orange), with its 95% interval.")]
    plots = []
    for png in sorted((ctx.job_dir / "plot" / "output").glob("*.png")):
        if png.is_file() and not png.is_symlink():
            name = f"plot-{png.name}"
            shutil.copyfile(png, folder / name)
            plots.append(Figure(file=name, caption=f"The template's own plot.py figure {png.name} (baseline run_0, "
                                                   "incumbent run_1)."))
    figures["plots"] = plots
    return figures


def _gains(state: ResearchState) -> list[Gain]:
    gains: list[Gain] = []
    for node in state.get("nodes", []):
        v = node["verdict"]
        if v is not None:
            gains.append((node["id"], v["mean_gain"], interval(v["mean_gain"], v["stderr"], v["n"]), v["verified"]))
    return gains


def _references(ctx: ResearchContext, state: ResearchState) -> str:
    memory = sorted({c for n in state.get("nodes", []) for c in n["idea"].get("citations", [])})
    found: list[citations.Citation] = []
    if ctx.literature_url:
        search = citations.search(ctx.literature_url, f"{ctx.task.name} {ctx.task.goal}"[:300])
        found = search.citations
        if search.error:
            ctx.journal.emit(ctx.job_id, "paper", {"literature": search.error})
    return citations.markdown(citations.references(memory, found))

