// One checkpoint as a card: flagged reasons first, the context a reviewer needs, then approve,
// reject (a reason is required) or edit (idea text, params from the task's search space, the
// files as an editable diff, or a paper's sections of prose). A 409 means another reviewer
// decided first: say so, then refresh.
"use strict";
import { api } from "./api.js";
import { el, fact, diffBlock, json, when, fmt, message } from "./dom.js";
import { filesFromEditedDiff, withoutParams } from "./patch.js";
import { paperCheckpointBody, paperEditForm } from "./paper.js";

let serial = 0;

function paramsForm(space, values, uid) {
  const names = [...new Set([...Object.keys(space || {}), ...Object.keys(values || {})])];
  const inputs = new Map();
  const fields = names.map((name) => {
    const spec = (space || {})[name] || {};
    const id = `${uid}-param-${name}`;
    const current = (values || {})[name];
    let input;
    if (Array.isArray(spec.choices)) {
      input = el("select", { id }, ...spec.choices.map((c) => el("option", { value: JSON.stringify(c), textContent: String(c),
        selected: JSON.stringify(c) === JSON.stringify(current) })));
    } else if (spec.low !== undefined) {
      input = el("input", { id, type: "number", step: spec.integer ? "1" : "any", min: spec.low, max: spec.high,
        value: current ?? "" });
    } else {
      input = el("input", { id, type: "text", value: current === undefined ? "" : JSON.stringify(current) });
    }
    inputs.set(name, { input, spec });
    const range = Array.isArray(spec.choices) ? "one of " + spec.choices.join(", ")
      : spec.low !== undefined ? `${spec.low} … ${spec.high}${spec.log ? ", log scale" : ""}${spec.integer ? ", integer" : ""}` : "JSON";
    return el("div", { className: "field" }, el("label", { htmlFor: id, textContent: `${name} (${range})` }), input);
  });
  if (!fields.length) return { node: null, read: () => ({}) };
  const read = () => {
    const out = {};
    for (const [name, { input, spec }] of inputs) {
      if (Array.isArray(spec.choices)) out[name] = JSON.parse(input.value);
      else if (spec.low !== undefined) {
        if (input.value === "") continue;  // left empty: the experiment's own default
        if (!input.checkValidity()) throw new Error(`${name} must be a number from ${spec.low} to ${spec.high}`);
        out[name] = Number(input.value);
      } else if (input.value.trim()) out[name] = JSON.parse(input.value);
    }
    return out;
  };
  return { node: el("fieldset", {}, el("legend", { textContent: "Params (empty: the experiment's default)" }),
    el("div", { className: "grid" }, fields)), read };
}

function body(cp, onError) {
  const p = cp.payload || {};
  if (cp.kind === "paper") return paperCheckpointBody(cp, onError);
  if (cp.kind === "idea") {
    return [fact("Hypothesis", p.hypothesis), fact("Plan", p.plan), fact("Params", p.params), fact("Novelty", p.novelty),
      p.neighbours && p.neighbours.length ? el("details", {}, el("summary", { textContent: `Similar ideas in memory (${p.neighbours.length})` }),
        el("ul", {}, p.neighbours.map((n) => el("li", { textContent: `${n.text} — ${n.fate || ""} (distance ${fmt(n.distance)})` })))) : null];
  }
  if (cp.kind === "code") {
    // What this branch changes is the diff from its parent; the diff from the task's files (what an
    // edit is made against) is folded. A checkpoint stored before the parent's diff existed shows the root's.
    const fromParent = p.diff_from_parent || p.diff;
    return [fact("Hypothesis", p.hypothesis), fact("Plan", p.plan), fact("Explanation", p.explanation),
      fact("Params", p.params), resultsTable([["parent", p.parent_metrics], ["incumbent", p.incumbent_metrics]]),
      el("h4", { textContent: p.diff_from_parent ? `Diff from the parent (${p.parent || "the task"})` : "Diff" }),
      diffBlock(fromParent),
      p.diff_from_parent ? el("details", { className: "root-diff" },
        el("summary", { textContent: "Diff from the task's files (the root)" }),
        diffBlock(p.diff, "diff from the task's files")) : null];
  }
  if (cp.kind === "finding") {
    return [fact("Verdict", verdictLine(p.verdict)), resultsTable([["finding", p.metrics], ["incumbent", p.incumbent_metrics]]),
      evidence(p.pairs, "Paired runs against the incumbent (same seeds)"),
      evidence(p.baseline_pairs, "Paired runs against the baseline"), critiqueBlock(p.critique), fact("Params", p.params),
      el("h4", { textContent: "Diff" }), diffBlock(p.diff)];
  }
  return [fact("Payload", p)];
}

// The results a reviewer compares a change with: [role, {node, title, value, metrics}] rows; none when nothing ran.
export function resultsTable(rows) {
  const shown = rows.filter(([, m]) => m && typeof m === "object");
  if (!shown.length) return null;
  const names = [...new Set(shown.flatMap(([, m]) => Object.keys(m.metrics || {})))];
  return el("table", { className: "results", "aria-label": "Results to compare" },
    el("caption", { textContent: "Results to compare (seed 0)" }),
    el("thead", {}, el("tr", {}, ["", "node", "value", ...names].map((k) => el("th", { scope: "col", textContent: k })))),
    el("tbody", {}, shown.map(([role, m]) => el("tr", { "data-role": role },
      el("th", { scope: "row", textContent: role }), el("td", { textContent: m.node + (m.title ? ` — ${m.title}` : "") }),
      el("td", { className: "num", textContent: fmt(m.value) }),
      names.map((k) => el("td", { className: "num", textContent: fmt((m.metrics || {})[k]) }))))));
}

export function verdictLine(v) {
  if (!v || typeof v !== "object") return v;
  const head = v.mean_gain === undefined ? "" : `${v.verified ? "verified" : "not verified"}: mean paired gain ${fmt(v.mean_gain)} ± ${fmt(v.stderr)} over ${v.n} seeds`
    + (v.against ? ` against ${v.against}` : "") + (v.baseline_gain !== undefined && v.baseline_gain !== null ? `, ${fmt(v.baseline_gain)} over the baseline` : "");
  return [head, v.reason].filter(Boolean).join(" — ");
}

// A reviewer's critique of a finding: soundness, confounds, a suggested ablation, and a flaw if it names one.
export function critiqueBlock(c) {
  if (!c) return null;
  if (typeof c !== "object") return fact("Critique", c);
  return el("section", { className: "critique", "aria-label": "Critique" }, el("h4", { textContent: "Critique" }),
    c.flaw ? el("p", { className: "error", textContent: "Flaw named: " + c.flaw }) : null,
    fact("Soundness", c.soundness),
    (c.confounds || []).length ? el("div", {}, el("strong", { textContent: "Possible confounds:" }), el("ul", {}, c.confounds.map((x) => el("li", { textContent: x })))) : null,
    fact("Suggested ablation", c.ablation));
}

export function evidence(pairs, caption = "Paired evidence (same seeds)") {
  const rows = Array.isArray(pairs) ? pairs : Object.entries(pairs || {}).map(([seed, v]) => ({ seed, ...(typeof v === "object" ? v : { value: v }) }));
  if (!rows.length) return null;
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return el("table", {}, el("caption", { textContent: caption }),
    el("thead", {}, el("tr", {}, keys.map((k) => el("th", { scope: "col", textContent: k })))),
    el("tbody", {}, rows.map((r) => el("tr", {}, keys.map((k) => el("td", { className: "num", textContent: fmt(r[k]) }))))));
}

function decisionLine(cp) {
  const d = cp.decision;
  if (!d) return `${cp.kind} · ${cp.status}`;
  return `${cp.kind} “${(cp.payload || {}).title || "untitled"}”: ${d.action}${d.reason ? " — " + d.reason : ""} (by ${d.decided_by}, ${when(d.decided_at)})`;
}

// checkpointCard(cp, {space, context, onDone, showJob}) → an <article>.
export function checkpointCard(cp, { space = {}, context = [], onDone = () => {}, showJob = true } = {}) {
  const uid = "cp" + (++serial);
  const p = cp.payload || {};
  const note = message();
  const reason = el("textarea", { id: uid + "-reason", rows: 2, "aria-required": "true" });
  const editBox = el("div", { hidden: true });
  let readEdit = null;
  const done = cp.status !== "pending";

  function openEdit() {
    editBox.replaceChildren();
    if (cp.kind === "idea") {
      const text = (name, value, rows = 2) => {
        const input = el("textarea", { id: `${uid}-edit-${name}`, rows, value: value || "" });
        editBox.append(el("div", { className: "field" }, el("label", { htmlFor: input.id, textContent: "Idea " + name }), input));
        return input;
      };
      const title = text("title", p.title, 1), hypothesis = text("hypothesis", p.hypothesis), plan = text("plan", p.plan, 3);
      const params = paramsForm(space, p.params, uid);
      if (params.node) editBox.append(params.node);
      readEdit = () => ({ title: title.value, hypothesis: hypothesis.value, plan: plan.value, params: params.read() });
    } else if (cp.kind === "code") {
      const params = paramsForm(space, p.params, uid);
      const original = withoutParams(p.diff || "");
      const diff = el("textarea", { id: uid + "-edit-diff", rows: 14, value: original, spellcheck: false });
      editBox.append(params.node || "", el("div", { className: "field" },
        el("label", { htmlFor: diff.id, textContent: "Files, as a diff from the task's files (edit the + lines)" }), diff));
      readEdit = () => ({ params: params.read(), files: filesFromEditedDiff(p.files || {}, p.diff || "", diff.value) });
    } else if (cp.kind === "paper") {
      readEdit = paperEditForm(editBox, p, uid);
    } else {
      const summary = el("textarea", { id: uid + "-edit-summary", rows: 3, value: (p.title || "") + ": " + ((p.verdict && p.verdict.reason) || "") });
      editBox.append(el("div", { className: "field" }, el("label", { htmlFor: summary.id, textContent: "Finding summary" }), summary));
      readEdit = () => ({ summary: summary.value });
    }
    editBox.append(el("div", { className: "row" }, el("button", { type: "button", textContent: "Send edit", onclick: () => decide("edit") }),
      el("button", { type: "button", textContent: "Cancel edit", onclick: () => { editBox.hidden = true; editButton.focus(); } })));
    editBox.hidden = false;
    editBox.querySelector("textarea, input, select").focus();
  }

  async function decide(action) {
    note.className = "error"; note.textContent = "";
    const decision = { action, reason: reason.value.trim() };
    if (action === "reject" && !decision.reason) {
      note.textContent = cp.kind === "paper" ? "A rejection needs a reason: say why, so the revision can answer it."
        : "A rejection needs a reason: say why, so later ideas avoid it.";
      reason.focus();
      return;
    }
    if (action === "edit") {
      try { decision.edit = readEdit(); } catch (err) { note.textContent = "The edit cannot be sent: " + err.message; return; }
    }
    for (const button of card.querySelectorAll("button")) button.disabled = true;
    try {
      await api("POST", "/v1/checkpoints/" + encodeURIComponent(cp.id) + "/decision", decision);
      note.className = "notice"; note.setAttribute("role", "status");
      note.textContent = `Decided: ${action}. The job goes on.`;
      setTimeout(onDone, 600);
    } catch (err) {
      if (err.status === 409) {
        note.textContent = "Already decided: someone else decided this checkpoint first (" + err.message + "). Refreshing…";
        setTimeout(onDone, 2500);
      } else {
        note.textContent = err.message;
        for (const button of card.querySelectorAll("button")) button.disabled = false;
      }
    }
  }

  const editButton = el("button", { type: "button", textContent: "Edit…", onclick: openEdit });
  const flagged = (cp.flagged || []).map((f) => (typeof f === "string" ? f : json(f)));
  const card = el("article", { className: "card" + (flagged.length ? " flagged" : ""), "aria-labelledby": uid + "-title",
    "data-checkpoint": cp.id },
  el("h3", { id: uid + "-title", textContent: `${cp.kind} checkpoint · ${p.title || (p.prose || {}).title || "(untitled)"}` }),
  flagged.length ? el("div", { className: "flags", role: "note", "aria-label": "Why this was flagged" },
    el("strong", { textContent: "Flagged for a human because:" }), el("ul", {}, flagged.map((f) => el("li", { textContent: f })))) : null,
  el("p", { className: "meta" }, showJob ? [el("a", { href: "#/jobs/" + encodeURIComponent(cp.job_id), textContent: "job " + cp.job_id }), " · "] : null,
    `iteration ${p.iteration ?? "?"} · asked ${when(cp.created_at)} · ${cp.id}`),
  // Parallel branches of a round wait at once: the label says which branch this card is.
  p.branch ? el("p", { className: "branch", "aria-label": "Branch" }, el("strong", { textContent: "Branch: " }), p.branch) : null,
  ...body(cp, (text) => { note.className = "error"; note.textContent = text; }),
  context.length ? el("details", { open: true }, el("summary", { textContent: `Earlier decisions in this job (${context.length})` }),
    el("ul", {}, context.map((c) => el("li", { textContent: decisionLine(c) })))) : null,
  done ? el("p", { className: "notice", textContent: decisionLine(cp) }) : [
    editBox,
    el("div", { className: "row" },
      el("button", { type: "button", textContent: "Approve", onclick: () => decide("approve") }),
      el("div", { className: "field" }, el("label", { htmlFor: reason.id, textContent: "Reason (required to reject)" }), reason),
      el("button", { type: "button", className: "danger", textContent: "Reject", onclick: () => decide("reject") }),
      editButton),
  ],
  note);
  return card;
}

export const describeDecision = decisionLine;
