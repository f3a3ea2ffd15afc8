// The New job page: pick an uploaded task, a strategy, a policy per gate and a budget; or upload a
// task as a .tar.gz or a folder.
"use strict";
import { api } from "./api.js";
import { el, message } from "./dom.js";

const GATES = ["idea", "code", "finding", "paper"];
const POLICIES = ["auto", "always", "never"];
const BUDGET = [["iterations", "Iterations", "1"], ["experiment_timeout_s", "Experiment timeout (s)", "any"],
  ["debug_attempts", "Debug attempts", "1"], ["llm_tokens", "LLM tokens", "1"], ["wall_clock_s", "Wall clock (s)", "any"]];

const field = (id, label, input) => el("div", { className: "field" }, el("label", { htmlFor: id, textContent: label }), input);

export function templateForm(prefix, tasks, template = {}) {
  const task = el("select", { id: prefix + "-task", required: true },
    ...tasks.map((t) => el("option", { value: t.name, textContent: `${t.name} (v${t.version})`, selected: t.name === template.task })));
  const strategy = el("select", { id: prefix + "-strategy" }, ...["search", "llm"].map((s) => el("option", { value: s, textContent: s })));
  const gates = GATES.map((kind) => [kind, el("select", { id: `${prefix}-gate-${kind}` },
    ...POLICIES.map((p) => el("option", { value: p, textContent: p })))]);
  const budget = BUDGET.map(([key, label, step]) => [key, label, el("input", { id: `${prefix}-budget-${key}`, type: "number", min: step === "1" ? 0 : 0.001, step })]);
  const paper = el("input", { id: prefix + "-paper", type: "checkbox", checked: Boolean(template.paper) });
  const goal = el("p", { className: "meta", role: "status" });
  // An AI Scientist template names no metric of its own: the job says which final_info.json mean to optimise.
  const metricName = el("input", { id: prefix + "-metric", type: "text", spellcheck: false, value: (template.metric || {}).name || "" });
  const metricDirection = el("select", { id: prefix + "-metric-direction" },
    ...["maximize", "minimize"].map((d) => el("option", { value: d, textContent: d })));
  const metricBox = el("fieldset", { hidden: true }, el("legend", { textContent: "Metric (this task is a template without one)" }),
    el("div", { className: "row" }, field(metricName.id, "Metric name", metricName), field(metricDirection.id, "Direction", metricDirection)));
  const showGoal = () => {
    const t = tasks.find((x) => x.name === task.value);
    const spec = (t && t.spec) || {};
    const template = Boolean(t) && !(t.files || []).includes("task.yaml");  // an AI Scientist template
    const metric = template ? null : spec.metric;
    metricBox.hidden = !template;
    goal.textContent = t ? `${spec.goal || ""} ${metric ? `Metric: ${metric.name} (${metric.direction}).` : ""} Task budget ${JSON.stringify(spec.budget || {})}.` : "";
  };
  task.addEventListener("change", showGoal);
  showGoal();
  const node = el("div", {},
    el("div", { className: "row" }, field(task.id, "Task", task), field(strategy.id, "Strategy", strategy)), goal, metricBox,
    el("fieldset", {}, el("legend", { textContent: "Human checkpoints (policy per kind)" }),
      el("div", { className: "row" }, gates.map(([kind, input]) => field(input.id, `${kind} gate`, input)))),
    el("div", { className: "field" }, el("label", { htmlFor: paper.id },
      paper, " Write the results up as a paper (every number from the journal)")),
    el("fieldset", {}, el("legend", { textContent: "Budget (empty: the task's own)" }),
      el("div", { className: "grid" }, budget.map(([, label, input]) => field(input.id, label, input)))));
  const read = () => {
    const out = { task: task.value, strategy: strategy.value, gates: {}, budget: {}, paper: paper.checked };
    if (!metricBox.hidden && metricName.value.trim()) out.metric = { name: metricName.value.trim(), direction: metricDirection.value };
    for (const [kind, input] of gates) out.gates[kind] = input.value;
    for (const [key, label, input] of budget) {
      if (input.value === "") continue;
      if (!input.checkValidity()) throw new Error(label + " must be a positive number");
      out.budget[key] = Number(input.value);
    }
    return out;
  };
  return { node, read };
}

async function readFolder(files) {
  const out = {};
  for (const file of files) {
    const parts = (file.webkitRelativePath || file.name).split("/");
    const rel = parts.length > 1 ? parts.slice(1).join("/") : parts[0];  // drop the folder's own name
    if (rel.split("/").some((p) => p.startsWith(".") || p === "__pycache__")) continue;
    out[rel] = await file.text();
  }
  return out;
}

export function newJobPage(main) {
  const note = message();
  const done = el("p", { className: "notice", role: "status", hidden: true });
  const formSlot = el("div");
  const tarball = el("input", { id: "upload-tarball", type: "file", accept: ".tar.gz,.tgz,application/gzip" });
  const folder = el("input", { id: "upload-folder", type: "file", webkitdirectory: true, multiple: true });
  const uploadNote = message();
  let form = null;

  async function load(selected) {
    const tasks = await api("GET", "/v1/tasks");
    form = tasks.length ? templateForm("new", tasks, { task: selected }) : null;
    formSlot.replaceChildren(form ? form.node : el("p", { textContent: "No task uploaded yet: upload one below." }));
  }
  async function upload(kind) {
    uploadNote.className = "error"; uploadNote.textContent = "";
    try {
      let task;
      if (kind === "tarball") {
        if (!tarball.files.length) throw new Error("choose a .tar.gz file first");
        task = await api("POST", "/v1/tasks", tarball.files[0], { type: "application/gzip" });
      } else {
        if (!folder.files.length) throw new Error("choose a folder first");
        task = await api("POST", "/v1/tasks", { files: await readFolder(folder.files) });
      }
      uploadNote.className = "notice"; uploadNote.textContent = `Uploaded ${task.name} v${task.version} (${task.files.length} files).`;
      await load(task.name);
    } catch (err) { uploadNote.textContent = "Upload refused: " + err.message; }
  }
  const submit = async (event) => {
    event.preventDefault();
    note.textContent = ""; done.hidden = true;
    try {
      const job = await api("POST", "/v1/jobs", form.read());
      done.hidden = false;
      done.replaceChildren("Started ", el("a", { href: "#/jobs/" + encodeURIComponent(job.id), textContent: job.id }), ` (${job.status}).`);
      done.querySelector("a").focus();
    } catch (err) { note.textContent = "The job was not started: " + err.message; }
  };
  main.replaceChildren(el("h1", { tabIndex: -1, textContent: "New job" }),
    el("form", { id: "new-job", "aria-label": "New job", onsubmit: submit }, formSlot, note,
      el("button", { type: "submit", textContent: "Start job" })), done,
    el("h2", { textContent: "Upload a task" }),
    el("p", { className: "meta", textContent: "A task folder holds task.yaml and its experiment; a re-upload makes a new version." }),
    el("div", { className: "row" }, field(tarball.id, "Task as a .tar.gz", tarball),
      el("button", { type: "button", textContent: "Upload .tar.gz", onclick: () => upload("tarball") })),
    el("div", { className: "row" }, field(folder.id, "Task folder", folder),
      el("button", { type: "button", textContent: "Upload folder", onclick: () => upload("folder") })),
    uploadNote);
  load().catch((err) => { note.textContent = err.message; });
  return () => {};
}
