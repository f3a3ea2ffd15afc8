// The Checkpoints page: every pending checkpoint of every job, flagged ones first, each with its
// job's goal and the decisions already made in that job.
"use strict";
import { api } from "./api.js";
import { el, message, showPendingCount } from "./dom.js";
import { checkpointCard } from "./checkpoint.js";

const REFRESH_MS = 4000;

export function checkpointsPage(main) {
  const list = el("div", { id: "pending" });
  const note = message();
  const count = el("p", { className: "meta", role: "status" });
  main.replaceChildren(el("h1", { tabIndex: -1, textContent: "Pending checkpoints" }), count, note, list);
  const shown = new Map(), tasks = new Map(), jobs = new Map();
  let closed = false;

  async function contextOf(jobId) {
    if (!jobs.has(jobId)) {
      const job = await api("GET", "/v1/jobs/" + encodeURIComponent(jobId));
      const key = job.task_name + "@" + (job.task_version || "");
      if (!tasks.has(key)) tasks.set(key, await api("GET", "/v1/tasks/" + encodeURIComponent(job.task_name) + (job.task_version ? "?version=" + job.task_version : "")));
      jobs.set(jobId, { job, task: tasks.get(key) });
    }
    const decided = await api("GET", "/v1/checkpoints?status=decided&job_id=" + encodeURIComponent(jobId));
    return { ...jobs.get(jobId), decided };
  }

  async function refresh() {
    try {
      const pending = await api("GET", "/v1/checkpoints?status=pending");
      showPendingCount(pending.length);
      pending.sort((a, b) => (b.flagged.length > 0) - (a.flagged.length > 0));
      const ids = new Set(pending.map((cp) => cp.id));
      for (const [id, card] of shown) if (!ids.has(id) && !card.contains(document.activeElement)) { card.remove(); shown.delete(id); }
      for (const cp of pending) {
        if (shown.has(cp.id)) continue;
        const { job, task, decided } = await contextOf(cp.job_id);
        if (closed) return;
        const card = checkpointCard(cp, { space: (task.spec || {}).params, context: decided,
          onDone: () => { card.remove(); shown.delete(cp.id); refresh(); } });
        // After the heading and the flagged reasons: the goal of the job it belongs to.
        card.insertBefore(el("p", { className: "goal", textContent: `Goal of ${job.task_name}: ${(task.spec || {}).goal || ""}` }), card.querySelector("p.meta"));
        shown.set(cp.id, card);
        if (cp.flagged.length) list.prepend(card); else list.append(card);
      }
      count.textContent = pending.length ? `${pending.length} pending · updated ${new Date().toLocaleTimeString()}` : "Nothing is waiting for a decision.";
      note.textContent = "";
    } catch (err) { note.textContent = err.message; }
  }
  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => { closed = true; clearInterval(timer); };
}
