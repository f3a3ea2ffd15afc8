// Files behind the token that a job wrote (a report's or a paper's figures, the paper itself):
// a raster image is shown, anything else is saved, never opened, since it is the experiment's or
// the model's and not the app's (see apiBlobUrl).
"use strict";
import { apiBlobUrl } from "./api.js";
import { el } from "./dom.js";

// An <img> of the API path `url`; its alt says why when the file cannot be shown.
export function imageOf(url, label) {
  const img = el("img", { alt: label || url });
  apiBlobUrl(url, { image: true }).then((blob) => { img.src = blob; }).catch((err) => { img.alt = `${label}: ${err.message}`; });
  return img;
}

// A link that saves the file at the API path `url` as `name`; `onError(message)` when it cannot be fetched.
export function saveLink(url, label, name = url.split("/").pop(), onError = () => {}) {
  const link = el("a", { href: "#", download: name, textContent: label || name });
  link.addEventListener("click", async (event) => {
    if (link.dataset.ready) return;  // the second, synthetic click saves the fetched file
    event.preventDefault();
    try { link.href = await apiBlobUrl(url); link.dataset.ready = "1"; link.click(); } catch (err) { onError(err.message); }
  });
  return link;
}

// renderMarkdown's `file(href, label, isImage)` for a document served at the API path `base`:
// its relative links resolve from there, as a browser would resolve them from that URL.
export function filesOf(base, onError) {
  return (href, label, image) => {
    const url = new URL(href, location.origin + base).pathname;
    return image ? imageOf(url, label) : saveLink(url, label || href, undefined, onError);
  };
}
