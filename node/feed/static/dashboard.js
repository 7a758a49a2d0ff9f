// swarm-node dashboard: polls /api/feed and renders it. Every string from the feed comes from peers, so it is
// only ever written through textContent (never innerHTML).
"use strict";

const POLL_MS = 2000;
const COLORS = ["#59c2ff", "#7fd962", "#e6b450", "#f07178", "#d2a6ff", "#95e6cb", "#ffb454", "#ff8f40"];
let lastFeed = null;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function short(hex) { return hex ? String(hex).slice(0, 8) : ""; }
function fmtTime(t) { return new Date(t * 1000).toLocaleTimeString(); }
function fmtMetric(m) { return (m === null || m === undefined) ? "—" : Number(m).toFixed(4); }

function fillRows(tbody, rows, cells) {
  tbody.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const [value, cls] of cells(row)) tr.appendChild(el("td", value, cls));
    tbody.appendChild(tr);
  }
}

function renderBest(feed) {
  fillRows(document.querySelector("#best tbody"), feed.best, (r) => [
    [r.hw_class, "mono"], [fmtMetric(r.metric), "mono"], [short(r.author_id || r.author), "mono"],
    [`${r.verified ? "yes" : "no"}: ${r.eligible || "?"} (${r.attestations} attest.)`, r.verified ? "keep" : "muted"],
    [r.description, "desc"],
  ]);
}

function renderLatest(feed) {
  fillRows(document.querySelector("#latest tbody"), feed.latest, (r) => [
    [fmtTime(r.created_at), "muted"], [r.reproduces ? `${r.status} (attest)` : r.status, r.status],
    [fmtMetric(r.metric), "mono"], [r.hw_class, "mono"], [short(r.author_id || r.author), "mono"],
    [r.description, "desc"],
  ]);
}

function renderCurrent(feed) {
  const box = document.getElementById("current");
  box.replaceChildren();
  const cur = feed.current;
  if (!cur) { box.textContent = "idle"; box.className = "muted"; return; }
  box.className = "";
  box.appendChild(el("div", `${cur.action || "experiment"}: ${cur.description || ""}`));
  const frac = Math.max(0, Math.min(1, Number(cur.fraction || 0)));
  const bar = el("div", null, "bar");
  const fill = el("div");
  fill.style.width = `${(frac * 100).toFixed(1)}%`;
  bar.appendChild(fill);
  box.appendChild(bar);
  const eta = cur.eta_seconds !== undefined && cur.eta_seconds !== null ? `, ETA ${Math.round(cur.eta_seconds)} s` : "";
  box.appendChild(el("div", `${(frac * 100).toFixed(0)}%${eta}`, "muted"));
}

function renderPeers(feed) {
  const peers = document.getElementById("peers");
  peers.replaceChildren();
  const list = feed.peers || [];
  if (!list.length) peers.appendChild(el("li", "no peers yet"));
  for (const p of list) peers.appendChild(el("li", typeof p === "string" ? p : (p.peer_id || ""), "mono"));
}

function seriesOf(feed, key) {
  // Best-so-far step lines over the kept results, one per hardware class or per node.
  const groups = new Map();
  const points = [...feed.series].sort((a, b) => a.t - b.t);
  for (const p of points) {
    const name = key === "author" ? short(p.author_id || p.author) : p.hw_class;
    if (!groups.has(name)) groups.set(name, []);
    const line = groups.get(name);
    const prev = line.length ? line[line.length - 1].m : Infinity;
    line.push({ t: p.t, m: Math.min(prev, p.metric) });
  }
  return groups;
}

function renderPlot(feed) {
  const svg = document.getElementById("plot");
  const legend = document.getElementById("legend");
  const key = document.querySelector('input[name="series"]:checked').value;
  const groups = seriesOf(feed, key);
  svg.replaceChildren();
  legend.replaceChildren();
  const all = [...groups.values()].flat();
  if (!all.length) {
    const t = document.createElementNS("http://www.w3.org/2000/svg", "text");
    t.setAttribute("x", 20); t.setAttribute("y", 40); t.setAttribute("fill", "#8a94a0");
    t.textContent = "no kept results yet";
    svg.appendChild(t);
    return;
  }
  const W = 900, H = 300, L = 55, R = 10, T = 10, B = 30;
  let t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t), Date.now() / 1000);
  let m0 = Math.min(...all.map((p) => p.m)), m1 = Math.max(...all.map((p) => p.m));
  if (t1 - t0 < 1) t1 = t0 + 1;
  if (m1 - m0 < 1e-3) { m0 -= 0.01; m1 += 0.01; }
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (m) => T + ((m1 - m) / (m1 - m0)) * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  for (let i = 0; i <= 4; i++) {
    const m = m0 + ((m1 - m0) * i) / 4;
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", 4); label.setAttribute("y", y(m) + 4); label.setAttribute("fill", "#8a94a0");
    label.setAttribute("font-size", "11"); label.textContent = m.toFixed(3);
    svg.appendChild(label);
  }
  let i = 0;
  for (const [name, line] of groups) {
    const color = COLORS[i++ % COLORS.length];
    let d = "";
    line.forEach((p, j) => {
      d += j === 0 ? `M${x(p.t)},${y(p.m)}` : `H${x(p.t)}V${y(p.m)}`;
    });
    d += `H${x(t1)}`;
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d); path.setAttribute("stroke", color); path.setAttribute("fill", "none");
    path.setAttribute("stroke-width", "2");
    svg.appendChild(path);
    const item = el("span", name, "mono");
    const swatch = el("i");
    swatch.style.background = color;
    item.prepend(swatch);
    legend.appendChild(item);
  }
}

function renderLineage(feed) {
  const root = document.getElementById("lineage");
  root.replaceChildren();
  const byParent = new Map();
  const commits = new Set(feed.lineage.map((c) => c.commit));
  for (const c of feed.lineage) {
    const parent = commits.has(c.parent) ? c.parent : "";
    if (!byParent.has(parent)) byParent.set(parent, []);
    byParent.get(parent).push(c);
  }
  const build = (parent, into, depth) => {
    for (const c of byParent.get(parent) || []) {
      const li = el("li");
      li.appendChild(el("span", `${short(c.commit)} `, "mono"));
      li.appendChild(el("span", `${fmtMetric(c.metric)} `, "keep mono"));
      li.appendChild(el("span", `${short(c.author_id || c.author)} `, "muted mono"));
      li.appendChild(el("span", c.description));
      if (depth < 50 && byParent.has(c.commit)) {
        const ul = el("ul");
        build(c.commit, ul, depth + 1);
        li.appendChild(ul);
      }
      into.appendChild(li);
    }
  };
  build("", root, 0);
  if (!root.children.length) root.appendChild(el("li", "no kept commits yet", "muted"));
}

function render(feed) {
  lastFeed = feed;
  const swarm = feed.swarm || {};
  document.getElementById("swarm").textContent =
    `swarm ${short(swarm.swarm_id)} · ${swarm.name || ""} · ${feed.count} results`;
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.count = String(feed.count);
  renderBest(feed);
  renderLatest(feed);
  renderCurrent(feed);
  renderPeers(feed);
  renderPlot(feed);
  renderLineage(feed);
}

async function poll() {
  try {
    const response = await fetch("/api/feed", { cache: "no-store" });
    if (response.ok) render(await response.json());
  } catch (err) {
    document.getElementById("updated").textContent = `disconnected (${err})`;
  }
  setTimeout(poll, POLL_MS);
}

document.querySelectorAll('input[name="series"]').forEach((r) => r.addEventListener("change", () => lastFeed && renderPlot(lastFeed)));
poll();
