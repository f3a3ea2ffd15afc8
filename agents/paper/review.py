"""The automated review: ``reviewers`` independent reviews on the NeurIPS form, then a meta-review.

Each reviewer sees the paper's text, its figure captions and the claim check's output, and none
sees another's review; the meta-review reads them all. The review is optional: a reviewer whose
reply cannot be used is named in ``failed``, and when no review could be had (no model, the
token budget spent, no usable reply) ``unavailable`` says why and the job goes on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from agents.context import ModelLimits, ResearchContext
from agents.errors import BudgetExhausted, LLMError
from agents.llm import ModelT, TokenMeter, ask_json
from agents.llm_steps import messages
from agents.paper.claims import describe
from agents.paper.review_form import (
    Claim,
    FailedReview,
    Figure,
    MetaReview,
    PaperReview,
    Reviewed,
    ReviewForm,
)

PAPER_CHARS = 60_000  # what a reviewer reads of the paper (about 15k tokens)


def review_paper(ctx: ResearchContext, meter: TokenMeter, *, title: str, markdown: str, figures: Sequence[Figure],
                 claims: list[Claim], reviewers: int) -> PaperReview:
    """The reviews and the meta-review of a paper (``unavailable`` when none could be had)."""
    if ctx.model is None:
        return PaperReview(unavailable="no model is configured (LABLOOP_LLM_BASE_URL), so the paper has no "
                                       "automated review")
    if reviewers < 1:
        return PaperReview(unavailable="LABLOOP_REVIEWERS is 0: the paper has no automated review")
    captions = "\n".join(f"- {f.caption}" for f in figures) or "(none)"
    checked = describe(claims)
    reviews: list[Reviewed] = []
    failed: list[FailedReview] = []
    for k in range(1, reviewers + 1):
        msgs = messages(ctx, "paper_review", reviewer=k, reviewers=reviewers, paper=markdown[:PAPER_CHARS],
                        captions=captions, claims=checked)
        try:
            form = _ask(ctx, meter, "paper_review", msgs, ReviewForm)
        except BudgetExhausted as exc:
            failed.append(FailedReview(reviewer=k, reason=str(exc)))
            break
        except LLMError as exc:
            failed.append(FailedReview(reviewer=k, reason=str(exc)[:500]))
            continue
        reviews.append(Reviewed(reviewer=k, **form.model_dump()))
    if not reviews:
        why = "; ".join(f"reviewer {f.reviewer}: {f.reason}" for f in failed) or "no reviewer was asked"
        return PaperReview(failed=failed, unavailable=f"no reviewer's reply could be used ({why})")
    meta: MetaReview | None = None
    msgs = messages(ctx, "paper_meta", title=title, claims=checked,
                    reviews=json.dumps([r.model_dump() for r in reviews], indent=1)[:PAPER_CHARS])
    try:
        meta = _ask(ctx, meter, "paper_meta", msgs, MetaReview)
    except LLMError as exc:
        failed.append(FailedReview(reviewer=0, reason=f"meta-review: {str(exc)[:500]}"))
    except BudgetExhausted as exc:
        failed.append(FailedReview(reviewer=0, reason=f"meta-review: {exc}"))
    return PaperReview(reviews=reviews, meta=meta, failed=failed)


def _ask(ctx: ResearchContext, meter: TokenMeter, step: str, msgs: list[dict[str, str]],
         schema: type[ModelT]) -> ModelT:
    assert ctx.model is not None
    return ask_json(ctx.model, meter, msgs, schema, max_tokens=ctx.limits.reply_tokens(step),
                    limit_setting=ModelLimits.setting(step))


def rejected(review: PaperReview) -> str | None:
    """Why the review stands against publishing (None: it does not)."""
    if review.meta is not None and review.meta.decision == "reject":
        return f"the meta-review rejects the paper (overall {review.meta.overall}/10): {review.meta.summary[:300]}"
    return None
