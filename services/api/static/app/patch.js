// Editing files as a diff: the code checkpoint carries the proposed files and their diff from the
// task's files. Reversing that diff on the proposed files gives the originals; the edited diff is
// then applied to the originals to give the files the human wants run.
"use strict";

export function parseDiff(text) {
  const files = new Map();
  let current = null, hunk = null;
  for (const line of text.replace(/\r\n?/g, "\n").replace(/\n+$/, "").split("\n")) {
    if (line.startsWith("--- ")) { current = null; continue; }
    if (line.startsWith("+++ ")) {
      const path = line.slice(4).trim().replace(/^b\//, "");
      current = { path, hunks: [] };
      files.set(path, current);
      continue;
    }
    const head = line.match(/^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/);
    if (head) {
      if (!current) throw new Error("a hunk before any '+++ b/FILE' line");
      hunk = { oldStart: Number(head[1]), newStart: Number(head[3]), lines: [] };
      current.hunks.push(hunk);
      continue;
    }
    if (!hunk || line.startsWith("\\")) continue;
    if (line === "") { hunk.lines.push(" "); continue; }
    if (!" +-".includes(line[0])) throw new Error("a line of the diff starts with neither ' ', '+' nor '-': " + line);
    hunk.lines.push(line);
  }
  return files;
}

function apply(content, hunks, path) {
  const source = content === "" ? [] : content.replace(/\n$/, "").split("\n");
  const out = [];
  let at = 0;
  for (const hunk of hunks) {
    const old = hunk.lines.filter((l) => l[0] !== "+").map((l) => l.slice(1));
    let start = Math.max(0, hunk.oldStart - 1);
    if (old.length === 0) start = hunk.oldStart;  // a pure insertion is placed after line oldStart
    const matches = (s) => old.every((l, k) => source[s + k] === l);
    if (!matches(start)) {
      const found = source.findIndex((_, s) => s >= at && matches(s));
      if (found < 0) throw new Error("the diff of " + path + " does not fit the file near line " + hunk.oldStart);
      start = found;
    }
    out.push(...source.slice(at, start));
    for (const line of hunk.lines) if (line[0] !== "-") out.push(line.slice(1));
    at = start + old.length;
  }
  out.push(...source.slice(at));
  return out.length ? out.join("\n") + "\n" : "";
}

const reverse = (hunks) => hunks.map((h) => ({
  oldStart: h.newStart, newStart: h.oldStart,
  lines: h.lines.map((l) => (l[0] === "+" ? "-" : l[0] === "-" ? "+" : " ") + l.slice(1)),
}));

// The files to run: proposed files, their diff from the originals, and the human's edited diff.
export function filesFromEditedDiff(proposed, originalDiff, editedDiff) {
  const before = parseDiff(originalDiff), after = parseDiff(editedDiff);
  const files = {};
  for (const path of after.keys())
    if (!(path in proposed) && path !== "params.json") throw new Error("the edited diff changes " + path + ", which this change does not touch");
  for (const [path, text] of Object.entries(proposed)) {
    const original = before.has(path) ? apply(text, reverse(before.get(path).hunks), path) : text;
    files[path] = after.has(path) ? apply(original, after.get(path).hunks, path) : original;
  }
  return files;
}

// The diff without its params.json part (params are edited in their own form).
export function withoutParams(diff) {
  const parts = diff.split(/(?=^--- )/m);
  return parts.filter((p) => !/^\+\+\+ b\/params\.json$/m.test(p)).join("");
}
