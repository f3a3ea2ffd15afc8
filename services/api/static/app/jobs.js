// The Jobs page: every job with its status, task, strategy, progress, best value and pending
// checkpoints, filtered by status, refreshed every few seconds.
"use strict";
import { api } from "./api.js";
import { el, fmt, when, statusBadge, message } from "./dom.js";

const STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"];
const REFRESH_MS = 3000;

function row(job) {
  const p = job.progress || {};
  const arrow = p.direction === "minimize" ? "↓" : "↑";
  return el("tr", { "data-job": job.id },
    el("td", {}, el("a", { href: "#/jobs/" + encodeURIComponent(job.id), textContent: job.id })),
    el("td", {}, statusBadge(job.status)),
    el("td", { textContent: job.task_name + (job.task_version ? " v" + job.task_version : "") }),
    el("td", { textContent: job.strategy }),
    el("td", { textContent: `${p.iteration ?? 0} / ${p.iterations ?? "?"}` }),
    el("td", { className: "num", textContent: `${p.experiments ?? 0}` + (p.failed ? ` (${p.failed} failed)` : "") }),
    el("td", { className: "num", title: p.baseline !== null && p.baseline !== undefined ? "baseline " + fmt(p.baseline) : "",
      textContent: p.best === null || p.best === undefined ? "—" : `${fmt(p.best)} ${p.metric || ""} ${arrow}` }),
    el("td", { className: "num" }, p.pending_checkpoints ? el("a", { href: "#/jobs/" + encodeURIComponent(job.id),
      textContent: String(p.pending_checkpoints), "aria-label": `${p.pending_checkpoints} pending checkpoints of ${job.id}` }) : "0"),
    el("td", { textContent: job.created_by }),
    el("td", { textContent: when(job.created_at) }));
}

export function jobsPage(main, query) {
  const filter = el("select", { id: "status-filter" }, el("option", { value: "", textContent: "any status" }),
    ...STATUSES.map((s) => el("option", { value: s, textContent: s, selected: s === query.get("status") })));
  const body = el("tbody");
  const note = message();
  const count = el("span", { className: "meta", role: "status" });
  const table = el("table", { id: "jobs-table", "aria-label": "Jobs" },
    el("thead", {}, el("tr", {}, ["Job", "Status", "Task", "Strategy", "Iteration / budget", "Experiments", "Best", "Pending",
      "Created by", "Created"].map((h) => el("th", { scope: "col", textContent: h, className: ["Experiments", "Best", "Pending"].includes(h) ? "num" : "" })))),
    body);
  filter.addEventListener("change", () => {
    location.hash = "#/jobs" + (filter.value ? "?status=" + filter.value : "");
  });
  main.replaceChildren(el("h1", { tabIndex: -1, textContent: "Jobs" }),
    el("div", { className: "row" }, el("div", { className: "field" }, el("label", { htmlFor: "status-filter", textContent: "Filter by status" }), filter),
      el("a", { href: "#/new", textContent: "New job" }), count),
    note, table);
  async function refresh() {
    try {
      const status = filter.value;
      const jobs = await api("GET", "/v1/jobs?limit=100" + (status ? "&status=" + status : ""));
      body.replaceChildren(...jobs.map(row));
      if (!jobs.length) body.append(el("tr", {}, el("td", { colSpan: 10, textContent: "No jobs yet. Start one from New job." })));
      count.textContent = `${jobs.length === 100 ? "the newest 100" : jobs.length} jobs · updated ${new Date().toLocaleTimeString()}`;
      note.textContent = "";
    } catch (err) { note.textContent = err.message; }
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(timer);
}
