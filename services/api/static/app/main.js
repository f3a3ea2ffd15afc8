// The shell: sign-in (a bearer token kept for this tab only, not asked when the server needs
// none), the pending count in the navigation, and a hash router over the pages.
"use strict";
import { api, token, onUnauthorised } from "./api.js";
import { showPendingCount } from "./dom.js";
import { jobsPage } from "./jobs.js";
import { jobPage } from "./job.js";
import { checkpointsPage } from "./pending.js";
import { newJobPage } from "./newjob.js";
import { schedulesPage } from "./schedules.js";

const $ = (id) => document.getElementById(id);
let leave = () => {};
let signedIn = false;

function route() {
  leave();
  leave = () => {};
  if (!signedIn) return;
  const [path, search] = (location.hash.replace(/^#/, "") || "/jobs").split("?");
  const query = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const main = $("main");
  let page = parts[0] || "jobs";
  if (page === "jobs" && parts[1]) { leave = jobPage(main, parts[1]); page = "job"; }
  else if (page === "checkpoints") leave = checkpointsPage(main);
  else if (page === "new") leave = newJobPage(main);
  else if (page === "schedules") leave = schedulesPage(main);
  else { page = "jobs"; leave = jobsPage(main, query); }
  document.title = "labloop · " + ({ job: "job " + parts[1], checkpoints: "checkpoints", new: "new job", schedules: "schedules" }[page] || "jobs");
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.page === page || (page === "job" && link.dataset.page === "jobs")) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const heading = main.querySelector("h1");
  if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
}

function askForToken(text) {
  signedIn = false;
  leave();
  leave = () => {};
  $("main").replaceChildren();
  $("sign-in").hidden = false;
  $("sign-in-message").textContent = text || "";
  $("sign-out").hidden = true;
  $("token").focus();
}

async function pendingCount() {
  const pending = await api("GET", "/v1/checkpoints?status=pending");
  showPendingCount(pending.length);
}

async function start() {
  // With a token in this tab, show the page at once (a refused token brings the sign-in form back);
  // without one, ask the server first whether it needs one.
  const probe = pendingCount();
  if (!token.get()) {
    try {
      await probe;
    } catch (err) {
      if (err.status === 401) { askForToken(); return; }
      $("status").textContent = err.message;
    }
  } else {
    probe.catch((err) => { if (err.status === 401) askForToken("That token was refused: " + err.message); });
  }
  signedIn = true;
  $("sign-in").hidden = true;
  $("sign-out").hidden = !token.get();
  $("who").textContent = token.get() ? "signed in for this tab" : "local server: no sign-in needed";
  route();
}

onUnauthorised((err) => { if (signedIn) askForToken("Signed out: " + err.message); });
$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  token.set($("token").value.trim());
  $("token").value = "";
  start();
});
$("sign-out").addEventListener("click", () => { token.clear(); askForToken("Signed out."); });
window.addEventListener("hashchange", route);
setInterval(() => { if (signedIn) pendingCount().catch(() => {}); }, 5000);
start();
