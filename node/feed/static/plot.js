// swarm-node dashboard plot: every result as a point over a real time axis, the running best as a step line of means,
// and the noise band (the keep margin) around it. Strings from the feed go through textContent only.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const PLOT_COLORS = ["#59c2ff", "#7fd962", "#e6b450", "#f07178", "#d2a6ff", "#95e6cb", "#ffb454", "#ff8f40"];

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function niceTime(t, span) {
  const d = new Date(t * 1000);
  const hm = d.toLocaleTimeString([], span < 900 ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" });
  return span > 2 * 86400 ? `${d.toLocaleDateString()} ${hm}` : hm;
}

function marker(kind, x, y, color) {
  // kept: filled circle; discarded: hollow circle; crashed: a cross on the floor; attestation: a diamond.
  if (kind === "attestation") {
    return svgEl("path", { d: `M${x},${y - 5}L${x + 5},${y}L${x},${y + 5}L${x - 5},${y}Z`, fill: "none",
      stroke: color, "stroke-width": 1.5, class: "pt attestation" });
  }
  if (kind === "crash") {
    return svgEl("path", { d: `M${x - 4},${y - 4}L${x + 4},${y + 4}M${x - 4},${y + 4}L${x + 4},${y - 4}`,
      stroke: "#f07178", "stroke-width": 1.5, class: "pt crash" });
  }
  if (kind === "keep") return svgEl("circle", { cx: x, cy: y, r: 4, fill: color, class: "pt keep" });
  return svgEl("circle", { cx: x, cy: y, r: 3.5, fill: "none", stroke: color, "stroke-width": 1.2,
    opacity: 0.75, class: "pt discard" });
}

function kindOf(p) {
  if (p.status === "crash") return "crash";
  if (p.attestation) return "attestation";
  return p.status === "keep" ? "keep" : "discard";
}

function renderPlot(feed) {
  const svg = document.getElementById("plot");
  const legend = document.getElementById("legend");
  const key = document.querySelector('input[name="series"]:checked').value;
  const plot = feed.plot || { points: [], running_best: {}, noise: {}, labels: {} };
  svg.replaceChildren();
  legend.replaceChildren();
  const points = [...plot.points].sort((a, b) => a.t - b.t);
  if (!points.length) {
    svg.appendChild(svgEl("text", { x: 20, y: 40, fill: "#8a94a0" }, "no results yet"));
    return;
  }
  const W = 900, H = 340, L = 58, R = 12, T = 12, B = 42;
  const finite = points.filter((p) => p.status !== "crash");
  const lines = plot.running_best || {};
  const means = Object.values(lines).flat().map((s) => s.mean);
  const values = finite.map((p) => p.metric).concat(means);
  // the axis ends at the last result, or at "now" while a run is in flight
  let t0 = points[0].t, t1 = feed.current ? Math.max(points[points.length - 1].t, Date.now() / 1000)
    : points[points.length - 1].t;
  if (t1 - t0 < 60) t1 = t0 + 60;
  const tpad = (t1 - t0) * 0.02;
  t0 -= tpad; t1 += tpad;
  let m0 = values.length ? Math.min(...values) : 0, m1 = values.length ? Math.max(...values) : 1;
  const pad = Math.max((m1 - m0) * 0.08, 0.005);
  m0 -= pad; m1 += pad;
  const floorY = H - B + 14;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (m) => Math.max(T, Math.min(H - B, T + ((m1 - m) / (m1 - m0)) * (H - T - B)));  // clipped to the plot
  // axes: val_bpb on the left, wall-clock time below
  for (let i = 0; i <= 4; i++) {
    const m = m0 + ((m1 - m0) * i) / 4;
    svg.appendChild(svgEl("line", { x1: L, x2: W - R, y1: y(m), y2: y(m), stroke: "#2a3340", "stroke-width": 1 }));
    svg.appendChild(svgEl("text", { x: 4, y: y(m) + 4, fill: "#8a94a0", "font-size": 11 }, m.toFixed(3)));
  }
  for (let i = 0; i <= 5; i++) {
    const t = t0 + ((t1 - t0) * i) / 5;
    svg.appendChild(svgEl("line", { x1: x(t), x2: x(t), y1: T, y2: H - B, stroke: "#222a35", "stroke-width": 1 }));
    svg.appendChild(svgEl("text", { x: x(t) - 16, y: H - B + 30, fill: "#8a94a0", "font-size": 11 },
      niceTime(t, t1 - t0)));
  }
  svg.appendChild(svgEl("text", { x: W - R - 150, y: H - 2, fill: "#8a94a0", "font-size": 11 },
    "time (crashes on the floor)"));
  const groupOf = (p) => (key === "author" ? p.author : p.cohort);
  const groups = [...new Set(points.map(groupOf))];
  const colorOf = new Map(groups.map((g, i) => [g, PLOT_COLORS[i % PLOT_COLORS.length]]));
  const cohortColor = new Map(Object.keys(lines).map((c, i) => [c, key === "author" ? "#e6e6e6" :
    (colorOf.get(c) || PLOT_COLORS[i % PLOT_COLORS.length])]));
  // the noise band and the running best (a step line of means) per cohort
  for (const [cohort, steps] of Object.entries(lines)) {
    if (!steps.length) continue;
    const noise = (plot.noise || {})[cohort] || {};
    const band = noise.paired_margin ?? noise.margin ?? 0;
    const color = cohortColor.get(cohort);
    let d = "", upper = "", lower = "";
    steps.forEach((s, j) => {
      const xs = x(s.t), xe = j + 1 < steps.length ? x(steps[j + 1].t) : x(t1);
      d += j === 0 ? `M${xs},${y(s.mean)}` : `V${y(s.mean)}`;
      d += `H${xe}`;
      upper += `${j === 0 ? "M" : "L"}${xs},${y(s.mean - band)}L${xe},${y(s.mean - band)}`;
      lower = `L${xe},${y(s.mean + band)}L${xs},${y(s.mean + band)}` + lower;
    });
    if (band > 0) {
      svg.appendChild(svgEl("path", { d: `${upper}${lower}Z`, fill: color, opacity: 0.13, class: "band" }));
    }
    svg.appendChild(svgEl("path", { d, stroke: color, fill: "none", "stroke-width": 2.2, class: "best-line" }));
  }
  for (const p of points) {
    const kind = kindOf(p);
    const py = kind === "crash" ? floorY : y(p.metric);
    const mark = marker(kind, x(p.t), py, colorOf.get(groupOf(p)));
    mark.appendChild(svgEl("title", {}, `${p.status}${p.attestation ? " (attestation)" : ""} ${p.action} #${p.run_index}` +
      ` ${kind === "crash" ? "" : Number(p.metric).toFixed(4)} ${p.author} ${p.description}`));
    svg.appendChild(mark);
  }
  for (const g of groups) {
    const item = document.createElement("span");
    item.className = "mono";
    const swatch = document.createElement("i");
    swatch.style.background = colorOf.get(g);
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(key === "author" ? g : ((plot.labels || {})[g] || g)));
    legend.appendChild(item);
  }
  const shapes = document.createElement("span");
  shapes.className = "muted";
  shapes.textContent = "● kept  ○ discarded  ◇ attestation  ✕ crashed  — best (mean of runs)  ▒ noise margin";
  legend.appendChild(shapes);
}
