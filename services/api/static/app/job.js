// The Job page. A running job: goal, metric, baseline and best so far; pending checkpoints inline; a
// live event feed (SSE, resumed with Last-Event-ID); the metric plot; the tree; experiments;
// findings. A finished job leads with its result (incumbent and gain, findings, the tree figure,
// the plot), then its paper's reviews when it asked for one, experiments, the rest of the report,
// and the event log last, folded.
"use strict";
import { api, follow } from "./api.js";
import { el, fact, fmt, when, statusBadge, diffBlock, message } from "./dom.js";
import { checkpointCard, evidence, verdictLine, critiqueBlock, resultsTable } from "./checkpoint.js";
import { metricPlot, valueOf, better } from "./plot.js";
import { renderMarkdown } from "./markdown.js";
import { filesOf } from "./files.js";
import { paperSection } from "./paper.js";

const FEED_LINES = 300;
const FINISHED = ["succeeded", "failed", "cancelled"];

function describeEvent(e) {
  const d = e.data || {};
  switch (e.kind) {
    case "node": return `${d.node} ${d.phase}${d.iteration !== undefined ? " (iteration " + d.iteration + ")" : ""}${d.error ? ": " + d.error : ""}`;
    case "experiment": return `experiment ${d.id} ${d.status}${d.role ? " [" + d.role + "]" : ""}${d.error ? ": " + d.error : ""}`;
    case "output": return `${d.id} ${d.stream}: ${String(d.text ?? d.line ?? "").trimEnd()}`;
    case "idea": return `idea (iteration ${d.iteration}): ${d.title}`;
    case "checkpoint.created": return `checkpoint ${d.checkpoint_id} (${d.kind}) is waiting for a human`;
    case "job.waiting": return `job waiting for a human at ${(d.checkpoints || []).map((c) => `${c.checkpoint_id} (${c.kind})`).join(", ")}`;
    case "checkpoint.decided": return `checkpoint ${d.checkpoint_id}: ${d.action} by ${d.by}${d.reason ? " — " + d.reason : ""}`;
    case "select": return `round ${d.iteration}: expand ` + (d.expansions || []).map((x) => `${x.node} (${x.operator} from ${x.parent})`).join(", ");
    case "tree": return `node ${d.node} (${d.operator} from ${d.parent}): ${d.status}${d.value !== undefined && d.value !== null ? " " + fmt(d.value) : ""}${d.refused ? " — refused: " + d.refused : ""}`;
    case "verify": return `verify ${d.node} against ${d.against} on seeds ${(d.seeds || []).join(", ")}`;
    case "critique": return `critique of ${d.node}: ${d.flaw ? "flaw — " + d.flaw : "no flaw named"}`;
    case "job.finished": return `job finished: ${d.status}${d.error ? " — " + d.error : ""}`;
    default: return `${e.kind} ${JSON.stringify(d)}`;
  }
}

function experimentsTable(experiments, metric) {
  const rows = experiments.map((e) => {
    const r = e.result || {};
    return el("tr", { "data-experiment": e.id },
      el("td", { textContent: e.id }), el("td", { className: "num", textContent: e.iteration }), el("td", { textContent: e.role }),
      el("td", { className: "num", textContent: e.seed }),
      el("td", { textContent: Object.keys(e.params || {}).length ? JSON.stringify(e.params) : "" }),
      el("td", {}, el("span", { className: "status " + e.status, textContent: e.status })),
      // A graded run: the grader's number, with what the experiment claimed for itself beside it.
      el("td", { className: "num", textContent: fmt(valueOf(e, metric)) +
        (r.self_reported && metric in r.self_reported ? ` (self-reported ${fmt(r.self_reported[metric])})` : "") }),
      el("td", { className: "num", textContent: e.duration_s === null ? "—" : e.duration_s.toFixed(2) + " s" }),
      el("td", { textContent: r.error || "" }));
  });
  return el("table", { id: "experiments" }, el("caption", { textContent: `${experiments.length} experiments, in the order they ran` }),
    el("thead", {}, el("tr", {}, ["Experiment", "Iteration", "Role", "Seed", "Params", "Status", metric || "value", "Duration", "Error"]
      .map((h, i) => el("th", { scope: "col", className: [1, 3, 6, 7].includes(i) ? "num" : "", textContent: h })))),
    el("tbody", {}, rows));
}

// The tree of solutions, from the job's "tree" events (node, parent, operator, status, value) and
// "idea" events (a node's idea); each node's diff is its seed-0 experiment's. Nothing without them.
function solutionTree(tree, ideas, experiments, jobId, metric, incumbent) {
  if (!tree.size) return null;
  const baseline = experiments.find((e) => e.role === "baseline" && e.seed === 0);
  if (!tree.has("root") && baseline) {  // the root is the baseline; the engine reports only the nodes it grows
    tree = new Map([["root", { node: "root", parent: null, operator: "baseline", status: baseline.status, value: valueOf(baseline, metric) }], ...tree]);
  }
  const runOf = (node) => experiments.find((e) => e.id.startsWith(`${jobId}-${node}-`) && e.seed === 0 && e.role !== "replicate");
  const children = new Map();
  for (const n of tree.values()) {
    const parent = n.parent && tree.has(n.parent) ? n.parent : null;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(n);
  }
  const item = (n) => {
    const run = runOf(n.node);
    const best = incumbent && incumbent.startsWith(`${jobId}-${n.node}-`);
    const label = `${n.node} · ${n.operator || "?"} · ${ideas.get(n.node) || (run && run.idea_title) || "baseline"} · ${n.status}`
      + (n.value !== undefined && n.value !== null ? ` · ${metric} ${fmt(n.value)}` : "") + (best ? " · incumbent" : "");
    const kids = children.get(n.node) || [];
    return el("li", { "data-node": n.node }, el("details", { open: kids.length > 0 || best },
      el("summary", { className: best ? "incumbent" : "", textContent: label }),
      run && run.diff ? diffBlock(run.diff, "diff of node " + n.node) : el("p", { className: "meta", textContent: "no change from the root" })),
    kids.length ? el("ul", {}, kids.map(item)) : null);
  };
  const roots = children.get(null) || [];
  return el("section", { className: "tree", "aria-labelledby": "tree-title" },
    el("h2", { id: "tree-title", textContent: `Tree of solutions (${tree.size} nodes)` }),
    el("p", { className: "meta", textContent: "Each node: id · operator · idea · fate · metric on seed 0. Open a node for its diff from the root." }),
    el("ul", {}, roots.map(item)));
}

// The job's outcome in one line: the incumbent's gain over the baseline, or that nothing was verified.
function resultLine(job, baseline, metric, direction) {
  const best = job.summary && job.summary.best;
  const base = baseline ? valueOf(baseline, metric) : null;
  const value = best ? (best.metrics || {})[metric] : null;
  const accepted = ((job.summary && job.summary.findings) || []).filter((f) => f.accepted !== false).length;
  if (job.summary && job.summary.no_baseline) return fromDataLine(job.summary, value, metric, direction, accepted);
  if (value === null || value === undefined || base === null || !best.experiment_id || best.experiment_id.includes("-root-"))
    return `no change was verified: the baseline stays the incumbent (${metric} ${fmt(base)})`;
  const gain = direction === "minimize" ? base - value : value - base;
  return `${metric} ${fmt(base)} → ${fmt(value)} (${gain >= 0 ? "+" : ""}${fmt(gain)}, ${direction}) · ${accepted} finding${accepted === 1 ? "" : "s"} accepted`;
}

// The best seen on seed 0 beside the best verified, and why each better-looking node is not verified.
function seenLines(job, metric) {
  const seen = job.summary && job.summary.best_seen;
  if (!seen || !seen.node) return null;
  const why = (job.summary.contenders || []).map((c) =>
    `${c.node} (${fmt(c.value)}): ${c.replicates} pairs, mean gain ${fmt(c.mean_gain)}, bound ${fmt(c.bound)} — ${c.why}`);
  return [el("dt", { textContent: "Best seen (seed 0)" }),
    el("dd", { textContent: `${fmt((seen.metrics || {})[metric])} (${seen.node})` + (why.length ? " · not verified: " + why.join("; ") : "") })];
}

// A task that started from data has no baseline: gains are over the first draft that ran and was graded.
function fromDataLine(summary, value, metric, direction, accepted) {
  const first = summary.first_incumbent;
  if (!first) return `no solution: the task has no ${summary.no_baseline}, and no draft ran and was graded`;
  const base = (first.metrics || {})[metric];
  if (summary.best.node === first.node)
    return `no baseline (started from data): the first draft ${first.node} stays the incumbent (${metric} ${fmt(base)})`;
  const gain = direction === "minimize" ? base - value : value - base;
  return `${metric} ${fmt(base)} → ${fmt(value)} (${gain >= 0 ? "+" : ""}${fmt(gain)} over the first draft ${first.node}, `
    + `${direction}; no baseline) · ${accepted} finding${accepted === 1 ? "" : "s"} accepted`;
}

function findingsSection(job, findingCheckpoints, memory) {
  const found = (job.summary && job.summary.findings) || [];
  const items = found.map((f) => el("article", { className: "card" },
    el("h3", { textContent: `${f.title} — ${f.accepted === false ? "not accepted" : "accepted"}${f.decided_by ? " by " + f.decided_by : ""}` }),
    el("p", { textContent: `${fmt(f.value)} (mean paired gain ${fmt(f.mean_gain)} ± ${fmt(f.stderr)}, n = ${f.n}${f.against ? ", against " + f.against : ""}${f.replicates ? ", " + f.replicates + " pairs spent" : ""})` }),
    fact("Rule", f.rule), fact("Summary", f.summary), fact("Params", f.params),
    evidence(f.pairs, "Paired runs against the incumbent"), evidence(f.baseline_pairs, job.summary.no_baseline ? "Paired runs against the first incumbent" : "Paired runs against the baseline"),
    critiqueBlock(f.critique), f.diff ? diffBlock(f.diff, "diff of finding " + f.title) : null));
  for (const cp of findingCheckpoints) {
    const p = cp.payload || {};
    items.push(el("article", { className: "card" }, el("h3", { textContent: `Finding checkpoint: ${p.title || cp.id} (${cp.status})` }),
      fact("Branch", p.branch), fact("Verdict", verdictLine(p.verdict)),
      resultsTable([["finding", p.metrics], ["incumbent", p.incumbent_metrics]]), evidence(p.pairs, "Paired runs against the incumbent (same seeds)"),
      critiqueBlock(p.critique), diffBlock(p.diff)));
  }
  for (const m of memory) items.push(el("article", { className: "card" }, el("h3", { textContent: "Memory: " + (m.metadata.title || m.id) }),
    el("p", { textContent: m.text }), fact("Critique", m.metadata.critique)));
  return el("section", { "aria-labelledby": "findings-title" }, el("h2", { id: "findings-title", textContent: "Findings" }),
    items.length ? items : el("p", { className: "meta", textContent: "No verified finding yet." }));
}

export function jobPage(main, jobId) {
  let stop = () => {}, timer = null, closed = false, painted = false;
  const note = message();
  const feed = el("ol", { id: "feed", "aria-label": "Live events", tabIndex: 0 });
  const feedState = el("span", { className: "meta", id: "feed-state" });
  const slots = { head: el("div"), checkpoints: el("section", { "aria-labelledby": "pending-title" }), plot: el("div"),
    figure: el("div"), tree: el("div"), experiments: el("section", { "aria-labelledby": "experiments-title" }),
    findings: el("div"), paper: el("div"), report: el("div") };
  const events = el("details", { id: "events", open: true }, el("summary", {}, el("h2", { id: "feed-title" }, "Events ", feedState)), feed);
  const plotSection = el("section", { "aria-labelledby": "plot-title" }, el("h2", { id: "plot-title", textContent: "Metric" }), slots.plot);
  let layout, folded = false;
  function arrange(finished) {  // finished: null until the job's status is known
    if (!folded && finished !== null) { events.open = !finished; folded = true; }  // a log the reader watched finish stays open
    if (layout === finished) return;
    layout = finished;
    main.replaceChildren(...(finished
      ? [slots.head, note, slots.checkpoints, slots.findings, slots.figure, plotSection, slots.paper, slots.tree, slots.experiments, slots.report, events]
      : [slots.head, note, slots.checkpoints, events, plotSection, slots.tree, slots.experiments, slots.findings, slots.paper, slots.report]));
  }
  arrange(null);

  let task = null;
  const tree = new Map(), ideas = new Map();
  async function refresh() {
    timer = null;
    try {
      const [job, experiments, pending, decided] = await Promise.all([
        api("GET", "/v1/jobs/" + encodeURIComponent(jobId)),
        api("GET", "/v1/jobs/" + encodeURIComponent(jobId) + "/experiments"),
        api("GET", "/v1/checkpoints?status=pending&job_id=" + encodeURIComponent(jobId)),
        api("GET", "/v1/checkpoints?status=decided&job_id=" + encodeURIComponent(jobId)),
      ]);
      // A job run from a folder (`labloop run`, `make demo`) has no uploaded task to read: its summary names the metric.
      if (!task) task = await api("GET", "/v1/tasks/" + encodeURIComponent(job.task_name) + (job.task_version ? "?version=" + job.task_version : ""))
        .catch((err) => { if (err.status === 404 && !job.task_version) return { spec: {} }; throw err; });
      if (closed) return;
      arrange(FINISHED.includes(job.status));
      render(job, experiments, pending, decided);
      if (!painted) {
        painted = true;
        // The first frame that shows the job: marked once built, and again after the browser painted it.
        performance.mark("labloop:job-rendered");
        requestAnimationFrame(() => requestAnimationFrame(() => performance.mark("labloop:job-painted")));
      }
      extras(job, pending, decided);
      note.textContent = "";
    } catch (err) {
      note.textContent = err.message;
      if (err.status !== 404 && err.status !== 401) soon(3000);  // the server may be restarting: try again
    }
  }
  const soon = (ms = 800) => { if (!timer && !closed) timer = setTimeout(refresh, ms); };

  function render(job, experiments, pending, decided) {
    // A template's metric comes with the job (task_fields), a task's from its task.yaml.
    const spec = { ...(task.spec || {}), ...(job.task_fields || {}) };
    if (!spec.metric && job.summary && job.summary.baseline) spec.metric = { name: Object.keys(job.summary.baseline)[0] };
    const metric = (spec.metric || {}).name, direction = (spec.metric || {}).direction || "maximize";
    const ok = experiments.filter((e) => e.status === "succeeded" && e.role !== "replicate" && valueOf(e, metric) !== null);
    const baseline = ok.find((e) => e.role === "baseline");
    const bestRun = ok.reduce((m, e) => (m === null || better(valueOf(e, metric), valueOf(m, metric), direction) ? e : m), null);
    const incumbent = job.summary && job.summary.best && job.summary.best.experiment_id;
    const cancel = el("button", { type: "button", className: "danger", textContent: "Cancel job…", hidden: FINISHED.includes(job.status) });
    const confirm = el("div", { className: "notice", hidden: true, role: "group", "aria-label": "Confirm cancel" },
      el("p", { textContent: `Cancel ${job.id}? Its running experiment is killed and it cannot be resumed.` }),
      el("button", { type: "button", className: "danger", textContent: "Yes, cancel the job", onclick: async () => {
        try { await api("POST", "/v1/jobs/" + encodeURIComponent(jobId) + "/cancel"); soon(0); } catch (err) { note.textContent = err.message; }
      } }),
      " ", el("button", { type: "button", textContent: "No, keep it running", onclick: () => { confirm.hidden = true; cancel.focus(); } }));
    cancel.addEventListener("click", () => { confirm.hidden = false; confirm.querySelector("button").focus(); });
    const focused = slots.head.contains(document.activeElement) ? document.activeElement.textContent : null;
    slots.head.replaceChildren(
      el("h1", { tabIndex: -1 }, `Job ${job.id} `, statusBadge(job.status)),
      el("p", { className: "goal", textContent: spec.goal || "" }),
      el("dl", { className: "facts" },
        el("dt", { textContent: "Task" }), el("dd", { textContent: `${job.task_name}${job.task_version ? " v" + job.task_version : ""} · strategy ${job.strategy}` }),
        el("dt", { textContent: "Metric" }), el("dd", { textContent: `${metric} (${direction})` }),
        el("dt", { textContent: "Baseline" }), el("dd", { textContent: baseline ? fmt(valueOf(baseline, metric))
          : job.summary && job.summary.no_baseline ? `none: the task has no ${job.summary.no_baseline}, the job started from data` : "—" }),
        el("dt", { textContent: incumbent ? "Incumbent" : "Best so far" }),
        el("dd", { textContent: incumbent ? `${fmt((job.summary.best.metrics || {})[metric])} (${incumbent}, params ${JSON.stringify(job.summary.best.params || {})})`
          : bestRun ? `${fmt(valueOf(bestRun, metric))} (${bestRun.id}${Object.keys(bestRun.params || {}).length ? ", params " + JSON.stringify(bestRun.params) : ""})` : "—" }),
        seenLines(job, metric),
        FINISHED.includes(job.status) ? [el("dt", { textContent: "Result" }), el("dd", { className: "result", textContent: resultLine(job, baseline, metric, direction) })] : null,
        el("dt", { textContent: "Budget" }), el("dd", { textContent: Object.entries(job.budget || {}).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(" · ") }),
        el("dt", { textContent: "Gates" }), el("dd", { textContent: Object.entries(job.gates || {}).map(([k, v]) => `${k}: ${v}`).join(" · ") }),
        el("dt", { textContent: "Created" }), el("dd", { textContent: `${when(job.created_at)} by ${job.created_by}` }),
        (job.notes || []).length ? [el("dt", { textContent: "Notes" }), el("dd", { textContent: job.notes.join(" ") })] : null,
        job.error ? [el("dt", { textContent: "Error" }), el("dd", { className: "error", textContent: job.error })] : null),
      el("div", { className: "row" }, cancel), confirm);
    if (focused) for (const b of slots.head.querySelectorAll("button")) if (b.textContent === focused) b.focus();
    renderCheckpoints(pending, decided, spec);
    slots.plot.replaceChildren(metricPlot(experiments, metric, direction), el("p", { className: "meta",
      textContent: `Dots: each run on seed 0 · green line: best so far (${direction}) · dashed: the baseline · red crosses: failed runs` }));
    const treeList = solutionTree(tree, ideas, experiments, jobId, metric, incumbent);
    slots.tree.replaceChildren(!treeList ? "" : !FINISHED.includes(job.status) ? treeList
      : el("details", { className: "tree-fold" }, el("summary", { textContent: `Explore the tree: each node's idea and diff (${tree.size} nodes)` }), treeList));
    slots.experiments.replaceChildren(el("h2", { id: "experiments-title", textContent: "Experiments" }), experimentsTable(experiments, metric));
  }

  const shown = new Map();
  function renderCheckpoints(pending, decided, spec) {
    const ids = new Set(pending.map((cp) => cp.id));
    for (const [id, card] of shown) if (!ids.has(id) && !card.contains(document.activeElement)) { card.remove(); shown.delete(id); }
    if (!slots.checkpoints.firstChild) slots.checkpoints.append(el("h2", { id: "pending-title", textContent: "Waiting for you" }));
    for (const cp of pending) if (!shown.has(cp.id)) {
      const card = checkpointCard(cp, { space: spec.params, context: decided, showJob: false, onDone: () => { card.remove(); shown.delete(cp.id); soon(0); } });
      shown.set(cp.id, card);
      slots.checkpoints.append(card);
    }
    slots.checkpoints.hidden = shown.size === 0;
  }

  // Findings, the paper and the report change rarely: read them again only when a finding or the
  // paper's gate asked or was decided, or the job ended.
  let shownState = null;
  async function extras(job, pending, decided) {
    const finished = FINISHED.includes(job.status);
    const findingCps = decided.filter((cp) => cp.kind === "finding");
    const paperCps = [...pending, ...decided].filter((cp) => cp.kind === "paper").map((cp) => cp.id + " " + cp.status);
    const state = `${findingCps.length}/${paperCps.join()}/${finished}`;
    if (state === shownState) return;
    shownState = state;
    const memory = await api("GET", "/v1/findings?verified=true&job_id=" + encodeURIComponent(jobId)).catch(() => []);
    if (!closed) slots.findings.replaceChildren(findingsSection(job, findingCps, memory));
    const tell = (text) => { note.textContent = text; };
    if (job.paper) {
      // A 404 says why there is no paper yet (still running, or the job stopped first): shown as it is.
      const [review, why] = await api("GET", "/v1/jobs/" + encodeURIComponent(jobId) + "/paper/review")
        .then((r) => [r, null], (err) => [null, err.message]);
      if (!closed) slots.paper.replaceChildren(paperSection(jobId, review, why, tell));
    }
    if (!finished) return;
    try {
      const report = await api("GET", "/v1/jobs/" + encodeURIComponent(jobId) + "/report", undefined, { text: true });
      if (closed) return;
      // The report links its files relative to its own URL (files/PATH), fetched here behind the token.
      const file = filesOf("/v1/jobs/" + encodeURIComponent(jobId) + "/report", tell);
      const figure = (name, alt, caption) => el("figure", { className: "report-figure" }, file("files/" + name, alt, true),
        el("figcaption", { className: "meta", textContent: caption }));
      const hasTree = /\]\(files\/tree\.png\)/.test(report);
      slots.figure.replaceChildren(el("section", { "aria-labelledby": "figures-title" },
        el("h2", { id: "figures-title", textContent: "Tree of solutions" }),
        hasTree ? figure("tree.png", "tree of solutions", "Rounds left to right; each node's metric on seed 0 beside it; colour: its fate; black ring: the incumbent.") : el("p", { className: "meta", textContent: "No tree: the job grew no node." })));
      // The sections this page already shows are left out of the rendered report.
      const rest = renderMarkdown(report.replace(/^# .*\n/, ""), { file,
        skip: ["Question", "Baseline", "Incumbent", "Findings", "Tree of solutions", "Metric over rounds", "Experiments"] });
      slots.report.replaceChildren(el("section", { "aria-labelledby": "report-title" },
        el("h2", { id: "report-title", textContent: "Report" }),
        el("p", { className: "meta" }, "What the page above does not show of the job's report; or read ",
          el("a", { href: URL.createObjectURL(new Blob([report], { type: "application/octet-stream" })), download: `report-${jobId}.md`,
            textContent: "the whole report (Markdown)" })), rest));
    } catch (err) {
      slots.report.replaceChildren(el("p", { className: "meta", textContent: "No report: " + err.message }));
    }
  }

  refresh();
  stop = follow(jobId, (event) => {
    feed.append(el("li", { textContent: `#${event.id} ${new Date(event.at || Date.now()).toLocaleTimeString()} ${describeEvent(event)}` }));
    while (feed.childElementCount > FEED_LINES) feed.firstChild.remove();
    feed.scrollTop = feed.scrollHeight;
    const d = event.data || {};
    if (event.kind === "tree" && d.node) tree.set(d.node, { ...(tree.get(d.node) || {}), ...d });
    if (event.kind === "idea" && d.node) ideas.set(d.node, d.title);
    if (event.kind !== "output") soon(event.kind === "job.finished" ? 300 : 800);
  }, (state) => {
    feedState.textContent = "(" + state + ")";
    if (state.startsWith("reconnected")) soon(0);  // what changed while the stream was down
  });
  return () => { closed = true; stop(); if (timer) clearTimeout(timer); };
}
