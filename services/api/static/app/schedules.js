// The Schedules page: every schedule with its next run; create one; enable or disable it.
"use strict";
import { api } from "./api.js";
import { el, when, message } from "./dom.js";
import { templateForm } from "./newjob.js";

export function schedulesPage(main) {
  const note = message();
  const body = el("tbody");
  const cron = el("input", { id: "schedule-cron", type: "text", required: true, value: "0 9 * * 1-5", spellcheck: false });
  const zone = el("input", { id: "schedule-zone", type: "text", required: true, value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
  const name = el("input", { id: "schedule-name", type: "text" });
  const formSlot = el("div"), formNote = message();
  let template = null;
  const field = (input, label) => el("div", { className: "field" }, el("label", { htmlFor: input.id, textContent: label }), input);

  async function refresh() {
    try {
      const schedules = await api("GET", "/v1/schedules");
      body.replaceChildren(...schedules.map((s) => el("tr", { "data-schedule": s.id },
        el("td", { textContent: s.name || s.id }), el("td", { textContent: `${s.cron} (${s.timezone})` }),
        el("td", { textContent: `${s.template.task} · ${s.template.strategy || "search"}` }),
        el("td", { textContent: s.enabled ? "enabled" : "disabled" }),
        el("td", { textContent: s.enabled ? when(s.next_run_at) : "—" }),
        el("td", {}, s.last_job_id ? el("a", { href: "#/jobs/" + encodeURIComponent(s.last_job_id), textContent: s.last_job_id }) : "—"),
        el("td", {}, el("button", { type: "button", textContent: s.enabled ? "Disable" : "Enable",
          "aria-label": `${s.enabled ? "Disable" : "Enable"} schedule ${s.name || s.id}`,
          onclick: async () => {
            try { await api("PATCH", "/v1/schedules/" + encodeURIComponent(s.id), { enabled: !s.enabled }); await refresh(); }
            catch (err) { note.textContent = err.message; }
          } })))));
      if (!schedules.length) body.append(el("tr", {}, el("td", { colSpan: 7, textContent: "No schedules yet." })));
      note.textContent = "";
    } catch (err) { note.textContent = err.message; }
  }
  const create = async (event) => {
    event.preventDefault();
    formNote.className = "error"; formNote.textContent = "";
    try {
      const made = await api("POST", "/v1/schedules", { cron: cron.value.trim(), timezone: zone.value.trim(), name: name.value.trim(), template: template.read() });
      formNote.className = "notice"; formNote.textContent = `Created; next run ${when(made.next_run_at)}.`;
      await refresh();
    } catch (err) { formNote.textContent = "Not created: " + err.message; }
  };
  main.replaceChildren(el("h1", { tabIndex: -1, textContent: "Schedules" }), note,
    el("table", { "aria-label": "Schedules" }, el("thead", {}, el("tr", {},
      ["Name", "When", "Job", "State", "Next run", "Last job", "Action"].map((h) => el("th", { scope: "col", textContent: h })))), body),
    el("h2", { textContent: "New schedule" }),
    el("form", { "aria-label": "New schedule", onsubmit: create },
      el("div", { className: "row" }, field(name, "Name"), field(cron, "Cron (minute hour day month weekday)"), field(zone, "Time zone (IANA)")),
      formSlot, formNote, el("button", { type: "submit", textContent: "Create schedule" })));
  api("GET", "/v1/tasks").then((tasks) => {
    template = templateForm("schedule", tasks);
    formSlot.replaceChildren(tasks.length ? template.node : el("p", { textContent: "Upload a task first (New job)." }));
  }).catch((err) => { note.textContent = err.message; });
  refresh();
  const timer = setInterval(refresh, 10000);
  return () => clearInterval(timer);
}
