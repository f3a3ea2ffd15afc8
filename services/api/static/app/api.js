// The only way the app talks to the server: the /v1 API with the tab's bearer token.
"use strict";

const TOKEN_KEY = "labloop-token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message, code) { super(message); this.status = status; this.code = code; }
}

function headers(extra = {}) {
  const out = { "Accept": "application/json", ...extra };
  const value = token.get();
  if (value) out["Authorization"] = "Bearer " + value;
  return out;
}

// Calls listeners when the server refuses the token, so the shell can ask for one.
const unauthorised = new Set();
export const onUnauthorised = (listener) => unauthorised.add(listener);

// api(METHOD, PATH, body?, {type, text}) → parsed JSON (or text); ApiError with the server's message.
export async function api(method, path, body, options = {}) {
  const extra = {};
  let payload;
  if (body !== undefined) {
    extra["Content-Type"] = options.type || "application/json";
    payload = options.type ? body : JSON.stringify(body);
  }
  const reply = await fetch(path, { method, headers: headers(extra), body: payload });
  if (!reply.ok) {
    const data = await reply.json().catch(() => null);
    const detail = data && data.error;
    const error = new ApiError(reply.status, (detail && detail.message) || reply.status + " " + reply.statusText,
      detail && detail.code);
    if (reply.status === 401) for (const listener of unauthorised) listener(error);
    throw error;
  }
  return options.text ? reply.text() : reply.json();
}

// A file behind the token (a report's figure, an artifact) as an object URL. An object URL has the
// app's origin, so what an experiment wrote must never become a document there: a figure keeps
// its type only if it is a raster image (an SVG could script), anything else is an opaque download.
const RASTER = ["image/png", "image/jpeg", "image/gif", "image/webp"];
export async function apiBlobUrl(path, { image = false } = {}) {
  const reply = await fetch(path, { headers: headers({ "Accept": "*/*" }) });
  if (!reply.ok) throw new ApiError(reply.status, reply.status + " " + reply.statusText);
  const blob = await reply.blob();
  if (image && !RASTER.includes(blob.type)) throw new ApiError(415, "not a raster image (" + (blob.type || "unknown type") + ")");
  return URL.createObjectURL(new Blob([blob], { type: image ? blob.type : "application/octet-stream" }));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Follow a job's server-sent events over fetch (EventSource cannot send a bearer token).
// After a dropped connection it reconnects with Last-Event-ID, so no event is missed or repeated.
// Returns a function that stops following.
export function follow(jobId, onEvent, onState = () => {}) {
  const controller = new AbortController();
  let last = null;
  async function once() {
    const extra = { "Accept": "text/event-stream" };
    if (last !== null) extra["Last-Event-ID"] = last;
    const reply = await fetch("/v1/jobs/" + encodeURIComponent(jobId) + "/events",
      { headers: headers(extra), signal: controller.signal });
    if (!reply.ok) throw new ApiError(reply.status, "the event stream answered " + reply.status);
    onState(last === null ? "connected" : "reconnected after event " + last);
    const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let finished = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { id: null, kind: "message", data: "" };
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          if (colon <= 0) continue;
          const field = line.slice(0, colon), text = line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") event.id = text; else if (field === "event") event.kind = text;
          else if (field === "data") event.data += (event.data ? "\n" : "") + text;
        }
        if (event.id === null && !event.data) continue;  // a keep-alive comment
        if (event.id !== null) last = event.id;
        let parsed = null;
        try { parsed = JSON.parse(event.data); } catch { parsed = { data: event.data }; }
        onEvent({ ...parsed, id: event.id, kind: event.kind });
        if (event.kind === "job.finished") finished = true;
      }
    }
    return finished;
  }
  (async () => {
    let delay = 500;
    while (!controller.signal.aborted) {
      try {
        if (await once()) { onState("finished"); return; }
        delay = 500;
      } catch (err) {
        if (controller.signal.aborted) return;
        if (err.status === 404 || err.status === 401) { onState(err.message); return; }
        onState("disconnected; retrying");
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 8000);
    }
  })();
  return () => controller.abort();
}
