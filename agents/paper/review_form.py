"""The review form (NeurIPS's fields) and what ``review.json`` holds.

``review.json`` is ``{"status", "reviews": [ReviewForm, ...], "meta": MetaReview | null,
"unavailable": str | null, "failed": [...], "claims": [...], "figures": [...], "pdf_error"}``:
``unavailable`` says why there is no review at all (no model, the token budget spent, or no
reviewer's reply could be used); ``failed`` names the reviewers whose reply could not be used.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Decision = Literal["accept", "reject"]
PaperStatus = Literal["wanted", "drafted", "published", "rejected"]


class ReviewForm(BaseModel):
    """One reviewer's review on the NeurIPS form."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1, max_length=20_000)
    strengths: str = Field("", max_length=20_000)
    weaknesses: str = Field("", max_length=20_000)
    questions: str = Field("", max_length=20_000)
    limitations: str = Field("", max_length=20_000)
    soundness: int = Field(ge=1, le=4, description="1 poor, 2 fair, 3 good, 4 excellent.")
    presentation: int = Field(ge=1, le=4)
    contribution: int = Field(ge=1, le=4)
    overall: int = Field(ge=1, le=10, description="1 very strong reject … 10 award quality.")
    confidence: int = Field(ge=1, le=5, description="1 educated guess … 5 absolutely certain.")
    decision: Decision


class MetaReview(BaseModel):
    """The area chair's summary of the reviews, with the decision."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=1, max_length=20_000)
    strengths: str = Field("", max_length=20_000)
    weaknesses: str = Field("", max_length=20_000)
    overall: int = Field(ge=1, le=10)
    decision: Decision


class Reviewed(ReviewForm):
    """A review as review.json keeps it: which reviewer wrote it."""

    reviewer: int = Field(ge=1)


class FailedReview(BaseModel):
    """A reviewer whose reply could not be used, and why."""

    reviewer: int
    reason: str


class Claim(BaseModel):
    """A numeral in the prose that no reference or the task text accounts for."""

    numeral: str
    section: str
    context: str


class Figure(BaseModel):
    """A figure of the paper: its file (in paper/) and caption."""

    file: str
    caption: str


class PaperReview(BaseModel):
    """``review.json``: the reviews, the meta-review and what the paper was checked for."""

    model_config = ConfigDict(extra="ignore")

    status: PaperStatus = "drafted"
    source: str = Field("", description="Who wrote the prose: model, template or human.")
    reviews: list[Reviewed] = Field(default_factory=list)
    meta: MetaReview | None = None
    unavailable: str | None = Field(None, description="Why there is no review (no model, budget spent, no usable reply).")
    failed: list[FailedReview] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)
    figures: list[Figure] = Field(default_factory=list)
    pdf_error: str = ""
