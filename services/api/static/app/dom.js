// Small DOM helpers. Text goes in through textContent only: nothing the server sends becomes markup.
"use strict";

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || key === "for" || key === "scope")
      node.setAttribute(key, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children.filter(Boolean));
  return node;
}

export const json = (value) => JSON.stringify(value, null, 2);

export function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    const size = Math.abs(value);
    if (size < 1e-3 || size >= 1e6) return value.toExponential(2);
    return String(Number(value.toPrecision(4)));  // four significant digits, no trailing zeros
  }
  return String(value);
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export const statusBadge = (status) => el("span", { className: "status " + status, textContent: status });

export function diffBlock(diff, label = "code diff") {
  const pre = el("pre", { "aria-label": label, tabIndex: 0 });
  for (const line of (diff || "(no change)").replace(/\n$/, "").split("\n")) {
    const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add"
      : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.append(el("span", { className: cls, textContent: line + "\n" }));
  }
  return pre;
}

// A labelled value; nothing when it is empty. Objects are shown as JSON.
export function fact(label, content) {
  const empty = content === undefined || content === null || content === ""
    || (typeof content === "object" && Object.keys(content).length === 0);
  if (empty) return null;
  return el("div", {}, el("strong", { textContent: label + ": " }),
    typeof content === "object" ? el("pre", { textContent: json(content) }) : String(content));
}

export function message(text = "", kind = "error") {
  return el("p", { className: kind, role: kind === "error" ? "alert" : "status", textContent: text });
}

// Replace the page's content, keeping focus sensible for keyboard and screen-reader users.
export function mount(main, ...children) {
  main.replaceChildren(...children.flat().filter(Boolean));
}

// The navigation's count of pending checkpoints (any page that reads them keeps it current).
export function showPendingCount(count) {
  const badge = document.getElementById("pending-count");
  badge.textContent = count ? String(count) : "";
  if (count) badge.setAttribute("aria-label", count + " pending"); else badge.removeAttribute("aria-label");
}
