// A small Markdown renderer for job reports: headings, paragraphs, lists, code, tables, quotes,
// emphasis and links. It builds DOM nodes (never innerHTML), so a report cannot inject markup.
"use strict";
import { el } from "./dom.js";

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(!?\[[^\]]*\]\([^)\s]+\))/g;

function inline(text) {
  const out = [];
  let at = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > at) out.push(text.slice(at, match.index));
    const token = match[0];
    if (match[1]) out.push(el("code", { textContent: token.slice(1, -1) }));
    else if (match[2]) out.push(el("strong", {}, ...inline(token.slice(2, -2))));
    else if (match[3]) out.push(el("em", {}, ...inline(token.slice(1, -1))));
    else {
      const [, label, href] = token.match(/^!?\[([^\]]*)\]\(([^)\s]+)\)$/);
      // Images and relative links point at files beside the report, which the API does not serve.
      if (token.startsWith("!")) out.push(el("span", { className: "meta", textContent: "[figure: " + (label || href) + "]" }));
      else if (/^https?:\/\//.test(href)) out.push(el("a", { href, rel: "noreferrer", textContent: label }));
      else out.push(el("span", { textContent: label }));
    }
    at = match.index + token.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

const cells = (line) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());

export function renderMarkdown(text) {
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
      root.append(el("h" + level, {}, ...inline(heading[2])));
      i++;
      continue;
    }
    if (line.trim().startsWith("|") && i + 1 < lines.length && /^\s*\|?\s*:?-{2,}/.test(lines[i + 1])) {
      const table = el("table");
      table.append(el("thead", {}, el("tr", {}, ...cells(line).map((c) => el("th", { scope: "col" }, ...inline(c))))));
      const body = el("tbody");
      for (i += 2; i < lines.length && lines[i].trim().startsWith("|"); i++)
        body.append(el("tr", {}, ...cells(lines[i]).map((c) => el("td", {}, ...inline(c)))));
      table.append(body);
      root.append(table);
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+/;
    if (item.test(line)) {
      const list = el(/^\s*\d/.test(line) ? "ol" : "ul");
      for (; i < lines.length && (item.test(lines[i]) || /^\s{2,}\S/.test(lines[i])); i++) {
        if (item.test(lines[i])) list.append(el("li", {}, ...inline(lines[i].replace(item, ""))));
        else list.lastChild.append(" ", ...inline(lines[i].trim()));
      }
      root.append(list);
      continue;
    }
    if (line.startsWith(">")) {
      const quote = [];
      for (; i < lines.length && lines[i].startsWith(">"); i++) quote.push(lines[i].replace(/^>\s?/, ""));
      root.append(el("blockquote", {}, ...inline(quote.join(" "))));
      continue;
    }
    const para = [];
    for (; i < lines.length && lines[i].trim() && !/^(#|```|~~~|\s*[-*+]\s|\s*\||>)/.test(lines[i]); i++) para.push(lines[i]);
    if (!para.length) { para.push(line); i++; }
    root.append(el("p", {}, ...inline(para.join(" "))));
  }
  return root;
}
