// A job's write-up: its automated reviews on the NeurIPS form, the meta-review and the claim check,
// on the job page (paperSection) and at the paper gate (paperCheckpointBody, paperEditForm). The
// paper and its reviews are a model's text: they go in through textContent and markdown.js only.
"use strict";
import { el, fact, fmt } from "./dom.js";
import { filesOf, saveLink } from "./files.js";
import { renderMarkdown } from "./markdown.js";

// PaperEdit's fields (agents/checkpoints.py), in the paper's order.
const SECTIONS = [["title", "Title", 1], ["abstract", "Abstract", 4], ["introduction", "Introduction", 8],
  ["method", "Method", 8], ["results", "Results", 8], ["limitations", "Limitations", 6]];
const SCORES = ["overall", "soundness", "presentation", "contribution", "confidence"];
const TEXTS = [["summary", "Summary"], ["strengths", "Strengths"], ["weaknesses", "Weaknesses"],
  ["questions", "Questions"], ["limitations", "Limitations"]];

const heading = (level, text, id) => el("h" + level, { id, textContent: text });

function metaReview(meta, level) {
  if (!meta) return null;
  return el("section", { className: "meta-review", "aria-label": "Meta-review" }, heading(level, "Meta-review"),
    el("p", { className: "decision " + meta.decision, textContent: `Decision: ${meta.decision} · overall ${fmt(meta.overall)} / 10` }),
    el("p", { className: "prose", textContent: meta.summary || "" }),
    fact("Strengths", meta.strengths), fact("Weaknesses", meta.weaknesses));
}

// One row per reviewer: the scores, the decision, and the review's texts folded in the last cell.
function reviewsTable(reviews) {
  if (!reviews.length) return null;
  return el("table", { className: "reviews" },
    el("caption", { textContent: "Reviews on the NeurIPS form (overall 1–10; soundness, presentation, contribution 1–4; confidence 1–5)" }),
    el("thead", {}, el("tr", {}, ["Reviewer", "Overall", "Soundness", "Presentation", "Contribution", "Confidence", "Decision", "Review"]
      .map((h, i) => el("th", { scope: "col", className: i >= 1 && i <= 5 ? "num" : "", textContent: h })))),
    el("tbody", {}, reviews.map((r) => el("tr", { "data-reviewer": r.reviewer },
      el("th", { scope: "row", textContent: "Reviewer " + r.reviewer }),
      SCORES.map((k) => el("td", { className: "num", textContent: fmt(r[k]) })),
      el("td", { className: "decision " + r.decision, textContent: r.decision }),
      el("td", {}, el("details", {}, el("summary", { textContent: `Read reviewer ${r.reviewer}'s review` }),
        TEXTS.filter(([k]) => r[k]).map(([k, label]) => el("div", {}, el("strong", { textContent: label }),
          el("p", { className: "prose", textContent: r[k] })))))))));
}

// The claim check: numerals in the prose that no reference to the journal (nor the task) accounts for.
function claimsList(claims, level) {
  const list = claims || [];
  return el("section", { className: "claims", "aria-label": "Claim check" }, heading(level, "Claim check"),
    list.length ? el("ul", {}, list.map((c) => el("li", {}, el("strong", { textContent: c.numeral }),
      ` in ${c.section || "the paper"}: “${c.context || ""}”`)))
      : el("p", { className: "meta", textContent: "Every number comes from the journal: the prose has no numeral that a reference does not account for." }));
}

// review.json's {reviews, meta, unavailable, failed}: what a reader weighs the paper by.
function reviewParts(review, level) {
  const r = review || {};
  return [
    r.unavailable ? el("p", { className: "notice", textContent: "No review: " + r.unavailable }) : null,
    metaReview(r.meta, level), reviewsTable(r.reviews || []),
    (r.failed || []).length ? el("p", { className: "meta", textContent: "Reviews that could not be used: "
      + r.failed.map((f) => `reviewer ${f.reviewer} (${f.reason})`).join("; ") }) : null];
}

// The job page's Paper section: links to the PDF and the source, the status, the reviews and the
// claim check; `review` is GET /v1/jobs/ID/paper/review, or null with `why` (the server's 404 message).
export function paperSection(jobId, review, why, onError) {
  const base = "/v1/jobs/" + encodeURIComponent(jobId) + "/paper";
  const parts = !review ? [el("p", { className: "meta", textContent: why || "No paper yet." })] : [
    el("p", { className: "row" },
      review.pdf_error ? null : saveLink(base, "Paper (PDF)", `${jobId}-paper.pdf`, onError),
      saveLink(base + "?format=md", "Markdown source", `${jobId}-paper.md`, onError)),
    el("dl", { className: "facts" },
      el("dt", { textContent: "Status" }), el("dd", {}, el("span", { className: "status " + review.status, textContent: review.status })),
      review.source ? [el("dt", { textContent: "Prose by" }), el("dd", { textContent: review.source })] : null,
      (review.figures || []).length ? [el("dt", { textContent: "Figures" }),
        el("dd", { textContent: review.figures.map((f) => f.caption || f.file).join(" · ") })] : null,
      review.pdf_error ? [el("dt", { textContent: "No PDF" }), el("dd", { className: "error", textContent: review.pdf_error })] : null),
    ...reviewParts(review, 3), claimsList(review.claims, 3)];
  return el("section", { id: "paper", "aria-labelledby": "paper-title" }, heading(2, "Paper", "paper-title"), ...parts);
}

// A paper checkpoint's body: the draft as it would be published, its claim check and its reviews.
export function paperCheckpointBody(cp, onError) {
  const p = cp.payload || {};
  const job = "/v1/jobs/" + encodeURIComponent(cp.job_id);
  // The draft links its figures relative to the paper's folder (metric.png), or, as served over
  // HTTP, relative to the paper's URL (files/paper/metric.png): both reach the files route.
  const fromFolder = filesOf(job + "/files/paper/paper.md", onError), fromUrl = filesOf(job + "/paper", onError);
  const file = (href, label, image) => (href.startsWith("files/") ? fromUrl : fromFolder)(href, label, image);
  return [
    el("p", { className: "meta", textContent: `${p.revision ? "Revised on a human's reason" : "First draft"}`
      + `${p.source ? " · prose by " + p.source : ""} · ${(p.figures || []).length} figures` }),
    p.pdf ? el("p", {}, saveLink(job + "/paper", "Paper (PDF)", `${cp.job_id}-paper.pdf`, onError))
      : p.pdf_error ? el("p", { className: "error", textContent: "No PDF: " + p.pdf_error }) : null,
    el("details", { className: "paper", open: true }, el("summary", { textContent: "The paper, as it would be published" }),
      renderMarkdown(p.markdown || "(empty)", { file })),
    claimsList(p.claims, 4), ...reviewParts(p.review, 4)];
}

// The edit at the paper gate: one textarea per section of prose; only the changed ones are sent.
export function paperEditForm(box, payload, uid) {
  const prose = payload.prose || {};
  box.append(el("p", { className: "meta", textContent: "References such as {{gain r2s0}} are rendered again from the journal; tables and figures stay generated." }));
  const inputs = SECTIONS.map(([name, label, rows]) => {
    const input = el("textarea", { id: `${uid}-edit-${name}`, rows, value: prose[name] || "" });
    box.append(el("div", { className: "field" }, el("label", { htmlFor: input.id, textContent: label }), input));
    return [name, input];
  });
  return () => {
    const edit = Object.fromEntries(inputs.filter(([name, input]) => input.value !== (prose[name] || "")).map(([name, input]) => [name, input.value]));
    if (!Object.keys(edit).length) throw new Error("no section was changed: edit one, or approve the draft as it is");
    return edit;
  };
}
