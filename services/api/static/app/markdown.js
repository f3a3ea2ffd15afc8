// A small Markdown renderer for job reports: headings, paragraphs, lists, code, tables, quotes,
// emphasis, links and images. It builds DOM nodes (never innerHTML), so a report cannot inject
// markup. Relative images and links go through the caller's `file(href, label, isImage)`, which
// resolves them (behind the token) against the report's URL; without it they show as text.
"use strict";
import { el } from "./dom.js";

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*|(?<![A-Za-z0-9_])_[^_\s][^_]*_(?![A-Za-z0-9_]))|(!?\[[^\]]*\]\([^)\s]+\))/g;

// Underscores inside words (no_gain, not_verified) are text, as in CommonMark.
function inline(text, file) {
  const out = [];
  let at = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > at) out.push(text.slice(at, match.index));
    const token = match[0];
    if (match[1]) out.push(el("code", { textContent: token.slice(1, -1) }));
    else if (match[2]) out.push(el("strong", {}, ...inline(token.slice(2, -2), file)));
    else if (match[3]) out.push(el("em", {}, ...inline(token.slice(1, -1), file)));
    else {
      const [, label, href] = token.match(/^!?\[([^\]]*)\]\(([^)\s]+)\)$/);
      const image = token.startsWith("!");
      if (/^https?:\/\//.test(href) && !image) out.push(el("a", { href, rel: "noreferrer", textContent: label }));
      else if (file && !/^([a-z][a-z0-9+.-]*:|\/|#)/i.test(href)) out.push(file(href, label, image));
      else out.push(el("span", { className: image ? "meta" : "", textContent: image ? "[figure: " + (label || href) + "]" : label }));
    }
    at = match.index + token.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

const cells = (line) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());

export function renderMarkdown(text, { file, skip = [] } = {}) {
  const root = el("div", { className: "report" });
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (/^\s*$/.test(line)) { i++; continue; }
    const fence = line.match(/^(```|~~~)/);
    if (fence) {
      const body = [];
      for (i++; i < lines.length && !lines[i].startsWith(fence[1]); i++) body.push(lines[i]);
      i++;
      root.append(el("pre", { tabIndex: 0 }, el("code", { textContent: body.join("\n") })));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      const level = Math.min(6, heading[1].length + 2);  // the page has its own h1 and h2
      // A section the page already shows (by its heading) is left out, down to the next heading of its level.
      if (skip.includes(heading[2].trim())) {
        for (i++; i < lines.length && !(lines[i].match(/^(#{1,6})\s/) && lines[i].match(/^#+/)[0].length <= heading[1].length); i++);
        continue;
      }
      root.append(el("h" + level, {}, ...inline(heading[2], file)));
      i++;
      continue;
    }
    if (line.trim().startsWith("|") && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1])) {
      const table = el("table");
      table.append(el("thead", {}, el("tr", {}, ...cells(line).map((c) => el("th", { scope: "col" }, ...inline(c, file))))));
      const body = el("tbody");
      for (i += 2; i < lines.length && lines[i].trim().startsWith("|"); i++)
        body.append(el("tr", {}, ...cells(lines[i]).map((c) => el("td", {}, ...inline(c, file)))));
      table.append(body);
      root.append(table);
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+/;
    if (item.test(line)) {
      const list = el(/^\s*\d/.test(line) ? "ol" : "ul");
      for (; i < lines.length && (item.test(lines[i]) || /^\s{2,}\S/.test(lines[i])); i++) {
        if (item.test(lines[i])) list.append(el("li", {}, ...inline(lines[i].replace(item, ""), file)));
        else list.lastChild.append(" ", ...inline(lines[i].trim(), file));
      }
      root.append(list);
      continue;
    }
    if (line.startsWith(">")) {
      const quote = [];
      for (; i < lines.length && lines[i].startsWith(">"); i++) quote.push(lines[i].replace(/^>\s?/, ""));
      root.append(el("blockquote", {}, ...inline(quote.join(" "), file)));
      continue;
    }
    const para = [];
    for (; i < lines.length && lines[i].trim() && !/^(#|```|~~~|\s*[-*+]\s|\s*\||>)/.test(lines[i]); i++) para.push(lines[i]);
    if (!para.length) { para.push(line); i++; }
    root.append(el("p", {}, ...inline(para.join(" "), file)));
  }
  return root;
}
