// The metric plot: every run's value by iteration, the baseline, and the best so far (inline SVG).
"use strict";
import { svg, fmt } from "./dom.js";

const W = 640, H = 260, PAD = { l: 64, r: 12, t: 14, b: 34 };

export function metricPlot(experiments, metric, direction) {
  const runs = experiments.filter((e) => e.role !== "replicate" && !(e.role === "baseline" && e.seed !== 0));
  const points = runs.map((e) => ({ x: e.iteration, y: valueOf(e, metric), failed: e.status !== "succeeded" }));
  const ok = points.filter((p) => !p.failed && p.y !== null);
  const label = ok.length
    ? `${metric} of ${ok.length} runs over ${Math.max(...points.map((p) => p.x))} iterations; best ${fmt(best(ok, direction))}`
    : "no successful runs yet";
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": "Metric plot: " + label });
  root.append(svg("title", {}, document.createTextNode("Metric plot: " + label)));
  if (!ok.length) return root;
  const xs = points.map((p) => p.x), ys = ok.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const sx = (x) => PAD.l + (x - x0) / (x1 - x0) * (W - PAD.l - PAD.r);
  const sy = (y) => H - PAD.b - (y - y0) / (y1 - y0) * (H - PAD.t - PAD.b);
  const axis = { stroke: "#888", "stroke-width": 1 };
  root.append(svg("line", { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, ...axis }),
    svg("line", { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b, ...axis }));
  const text = (x, y, value, anchor = "end") =>
    svg("text", { x, y, "font-size": 11, "text-anchor": anchor, fill: "#555" }, document.createTextNode(value));
  for (const v of [y0, (y0 + y1) / 2, y1]) root.append(text(PAD.l - 4, sy(v) + 4, fmt(v)));
  root.append(text(PAD.l, H - 8, String(x0), "start"), text(W - PAD.r, H - 8, String(x1)),
    text((W + PAD.l) / 2, H - 8, "iteration", "middle"));
  const baseline = runs.find((e) => e.role === "baseline" && valueOf(e, metric) !== null);
  if (baseline) {
    const y = sy(valueOf(baseline, metric));
    root.append(svg("line", { x1: PAD.l, y1: y, x2: W - PAD.r, y2: y, stroke: "#999", "stroke-dasharray": "4 3" }));
  }
  let running = null, path = "";
  for (const p of ok.slice().sort((a, b) => a.x - b.x)) {
    running = running === null ? p.y : better(p.y, running, direction) ? p.y : running;
    path += (path ? ` H${sx(p.x)} V${sy(running)}` : `M${sx(p.x)} ${sy(running)}`);
  }
  root.append(svg("path", { d: path + ` H${W - PAD.r}`, fill: "none", stroke: "#116329", "stroke-width": 2 }));
  for (const p of points) {
    if (p.failed || p.y === null) {
      const x = sx(p.x), y = H - PAD.b - 6;
      root.append(svg("path", { d: `M${x - 3} ${y - 3} L${x + 3} ${y + 3} M${x - 3} ${y + 3} L${x + 3} ${y - 3}`, stroke: "#a40000" }));
    } else root.append(svg("circle", { cx: sx(p.x), cy: sy(p.y), r: 3, fill: "#0550ae", "fill-opacity": 0.7 }));
  }
  return root;
}

export const valueOf = (e, metric) => {
  const v = e.result && e.result.metrics ? e.result.metrics[metric] : undefined;
  return typeof v === "number" ? v : null;
};
export const better = (a, b, direction) => (direction === "minimize" ? a < b : a > b);
export const best = (points, direction) => points.reduce((m, p) => (m === null || better(p.y, m, direction) ? p.y : m), null);
