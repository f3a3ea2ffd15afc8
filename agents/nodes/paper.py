"""``paper`` and ``gate_paper``: the write-up of a job that asked for one (``--paper``).

    report ─► paper ─┬─► gate_paper ─► paper ─┬─► gate_paper ─► paper ─► END
                     └─► END                  └─► END

``paper`` writes ``runs/JOB/paper/`` (see :mod:`agents.paper.write`) and asks the paper gate
when its policy says so: ``always``, or ``auto`` when the claim check lists a numeral the
journal does not account for or the meta-review rejects. Its answer comes back to ``paper``:
approve publishes; edit replaces sections of the prose, renders it again and publishes (a
human wrote it); reject with a reason has the prose revised once on that reason and asks
again, and a second rejection leaves the paper written but not published. The paper never
sinks the job: without a model, or when its replies cannot be used, templates write the prose
and the review is marked unavailable. Checkpoint ids are ``{job}-paper-{n}``.
"""

from __future__ import annotations

import json

from langgraph.runtime import Runtime

from agents.checkpoints import PaperPayload
from agents.context import ResearchContext
from agents.llm_steps import meter_for, spent
from agents.nodes.gates import ask_human, checkpoint_id, request
from agents.paper.prose import edited
from agents.paper.review import rejected
from agents.paper.review_form import PaperStatus
from agents.paper.write import Paper, paper_dir, read_prose, set_status, write_paper
from agents.state import Decision, PaperState, ResearchState

PAPER_NODE = "paper"


def wanted() -> PaperState:
    """The paper state a job that asked for a write-up starts with."""
    return PaperState(status="wanted", asked=0, revisions=0, source="", flagged=[], pdf=None)


def _answer(state: ResearchState, current: PaperState) -> Decision | None:
    """The human's answer at the last paper checkpoint, when it has not been acted on yet."""
    gate = state.get("gate")
    if current["status"] != "drafted" or current["asked"] == 0 or gate is None or gate["kind"] != "paper":
        return None
    last = checkpoint_id(state["job_id"], PAPER_NODE, "paper", current["asked"] - 1)
    return gate if gate["checkpoint_id"] == last else None


def paper(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Write (or revise, or re-render an edit of) the paper; publish it or ask the paper gate."""
    ctx, current = runtime.context, state.get("paper")
    if current is None or current["status"] in ("published", "rejected"):
        return {}
    answer = _answer(state, current)
    if answer is not None and answer["action"] == "approve":
        set_status(ctx, "published")
        return _emit(ctx, {**current, "status": "published"})
    if answer is not None and answer["action"] == "reject" and current["revisions"] >= 1:
        set_status(ctx, "rejected")
        return _emit(ctx, {**current, "status": "rejected"})
    before, cost_before = state.get("tokens", 0), state.get("cost_usd", 0.0)
    meter = meter_for(ctx, before, cost_before, step="paper")
    revisions = current["revisions"]
    if answer is None:
        written = write_paper(ctx, state, meter, reviewers=ctx.reviewers)
    elif answer["action"] == "edit":
        written = write_paper(ctx, state, meter, prose=edited(read_prose(ctx), answer["edit"]), source="human",
                              reviewers=ctx.reviewers)
    else:
        revisions += 1
        written = write_paper(ctx, state, meter, revise=answer["reason"], previous=read_prose(ctx),
                              reviewers=ctx.reviewers)
    flagged = flags(written)
    asked = None if answer is not None and answer["action"] == "edit" else request(ctx, "paper", flagged)
    status: PaperStatus = "drafted" if asked else "published"
    if status == "published":
        set_status(ctx, "published")
    update: ResearchState = {
        **_emit(ctx, PaperState(status=status, asked=current["asked"], revisions=revisions, source=written.source,
                                flagged=flagged, pdf=written.pdf), written.note),
        "checkpoint": asked, **spent(ctx, meter, "paper", before=before, cost_before=cost_before)}
    if written.note:
        update["notes"] = [written.note]
    return update


def flags(written: Paper) -> list[str]:
    """Why a human should look at the paper before it is published (the auto policy asks then)."""
    found = []
    if written.claims:
        listed = ", ".join(f"{c.numeral!r} in {c.section}" for c in written.claims[:8])
        found.append(f"the claim check lists {len(written.claims)} numeral(s) the journal does not account for: "
                     f"{listed}")
    why = rejected(written.review)
    if why:
        found.append(why)
    return found


def _emit(ctx: ResearchContext, current: PaperState, note: str = "") -> ResearchState:
    ctx.journal.emit(ctx.job_id, "paper", {"status": current["status"], "pdf": current["pdf"], "note": note or None,
                                           "source": current["source"], "flagged": current["flagged"]})
    return {"paper": current}


def gate_paper(state: ResearchState, runtime: Runtime[ResearchContext]) -> ResearchState:
    """Before the paper is published: approve, reject with a reason (one revision), or edit its prose."""
    ctx, current = runtime.context, state["paper"]
    assert current is not None
    folder = paper_dir(ctx)
    prose = read_prose(ctx)
    review = json.loads((folder / "review.json").read_text(encoding="utf-8"))
    payload = PaperPayload(
        iteration=state.get("iteration", 0), node=PAPER_NODE, branch="the write-up", title=prose.get("title", ""),
        revision=current["revisions"], source=current["source"],
        markdown=(folder / "paper.md").read_text(encoding="utf-8"), prose=prose, claims=review.get("claims", []),
        review=review, figures=review.get("figures", []), pdf=current["pdf"], pdf_error=review.get("pdf_error", ""))
    made = ask_human(ctx, state.get("checkpoint"), "paper", payload, node=PAPER_NODE, iteration=state.get("iteration", 0),
                n=current["asked"])
    return {"gate": made, "decisions": [made], "checkpoint": None, "paper": {**current, "asked": current["asked"] + 1}}
