// swarm-node dashboard: polls /api/feed and renders it. Every string from the feed comes from peers, so it is
// only ever written through textContent (never innerHTML).
"use strict";

const POLL_MS = 2000;
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
    [r.label || r.hw_class, "mono"], [fmtMetric(r.metric), "mono"], [`${r.runs}`, "mono"],
    [short(r.author_id || r.author), "mono"],
    [`${r.verified ? "yes" : "no"}: ${r.eligible || "?"} (${r.attestations} attest.)`, r.verified ? "keep" : "muted"],
    [r.description, "desc"],
  ]);
}

function renderNoise(feed) {
  const box = document.getElementById("noise");
  box.replaceChildren();
  const noise = (feed.plot || {}).noise || {};
  const num = (v) => (v === null || v === undefined ? "—" : Number(v).toFixed(4));
  for (const [cohort, n] of Object.entries(noise)) {
    const margin = n.paired_margin ?? n.margin;
    box.appendChild(el("div", `${cohort}: paired std ${num(n.paired_std)} (${n.pairs} pairs), ` +
      `unpaired std ${num(n.std)}, margin ${num(margin)} bpb`, "mono"));
  }
  const compute = feed.compute || { share: {} };
  const shares = Object.entries(compute.share || {}).sort((a, b) => b[1] - a[1]);
  if (shares.length) {
    box.appendChild(el("div", "compute: " + shares.map(([use, s]) => `${use} ${(s * 100).toFixed(0)}%`).join(", ") +
      ` of ${(Number(compute.total || 0) / 3600).toFixed(2)} h`));
  }
  const transfers = feed.transfers || {};
  for (const line of transfers.ideas || []) box.appendChild(el("div", `idea ${line}`, "mono"));
  if (transfers.up_tested) {
    box.appendChild(el("div", `rungs: ${transfers.up_held} of ${transfers.up_tested} rung-0 keeps re-tested higher ` +
      "up held there"));
  }
}

function renderLatest(feed) {
  fillRows(document.querySelector("#latest tbody"), feed.latest, (r) => [
    [fmtTime(r.created_at), "muted"],
    [`${r.reproduces ? `${r.status} (attest)` : r.status}${r.action && r.action !== "unknown" ? ` · ${r.action} #${r.run_index}` : ""}`, r.status],
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
  const net = feed.net || null;  // AutoNAT's verdict and direct/relayed per peer (node/feed/netpanel.py)
  const reach = document.getElementById("reachability");
  reach.textContent = net ? `reachable: ${net.reachability}` + (net.reachability === "private"
    ? " (behind NAT: peers reach this node through a relay)" : "") : "";
  if (!list.length) peers.appendChild(el("li", "no peers yet"));
  for (const p of list) {
    const id = typeof p === "string" ? p : (p.peer_id || "");
    const kind = net && net.links ? net.links[id] : undefined;
    peers.appendChild(el("li", kind ? `${id} (${kind})` : id, "mono"));
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
  const metric = swarm.metric || "val_bpb";
  document.getElementById("swarm").textContent =
    `swarm ${short(swarm.swarm_id)} · ${swarm.name || ""} · ${swarm.task || "lm"}: ${metric} ` +
    `(${swarm.better || "lower"} is better) · ${feed.count} results`;
  for (const cell of document.querySelectorAll(".metric-name")) cell.textContent = cell.dataset.prefix + metric;
  document.getElementById("plot").setAttribute("aria-label", `best ${metric} over time`);
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.count = String(feed.count);
  renderBest(feed);
  renderLatest(feed);
  renderCurrent(feed);
  renderPeers(feed);
  renderNoise(feed);
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
