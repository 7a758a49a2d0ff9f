"""The live terminal view of ``swarm-node feed`` (rich): best per class, latest results, the current run, peers."""

from __future__ import annotations

import time
from typing import Any, Callable

from rich.console import Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from node.feed.netpanel import net_lines

__all__ = ["render_feed", "follow", "noise_lines"]

STATUS_STYLE = {"keep": "green", "discard": "yellow", "crash": "red"}


def _short(hexstr: str, n: int = 8) -> str:
    return hexstr[:n]


def _metric(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _ago(t: float, now: float) -> str:
    seconds = max(0, int(now - t))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _metric_name(feed: dict[str, Any]) -> str:
    return str(feed["swarm"].get("metric") or "val_bpb")


def _best_table(feed: dict[str, Any]) -> Table:
    better = feed["swarm"].get("better", "lower")
    table = Table(title=f"Best per hardware class and clock (mean of a train.py's runs; {_metric_name(feed)}: "
                        f"{better} is better)", expand=True, title_justify="left")
    for name in ("class", f"mean {_metric_name(feed)}", "runs", "node", "verified", "description"):
        table.add_column(name, overflow="fold" if name == "description" else "ellipsis")
    for r in feed["best"]:
        mark = Text(f"yes ({r.get('eligible', r['confirmed'])})", style="green") if r["verified"] else Text(
            f"{r.get('eligible', 'no')} ({r['attestations']} attest.)", style="dim")
        table.add_row(Text(r.get("label", r["hw_class"])), _metric(r["metric"]), f"{r.get('runs', 1)} runs",
                      _short(r["author"]), mark, Text(r["description"]))
    if not feed["best"]:
        table.add_row("-", "-", "-", "-", "-", Text("no kept train.py with 2 runs that this node ran, re-ran, or that "
                                                    "peers it trusts confirmed yet", style="dim"))
    return table


def _unit(feed: dict[str, Any]) -> str:
    metric = _metric_name(feed)
    return "bpb" if metric == "val_bpb" else metric


def noise_lines(feed: dict[str, Any]) -> list[str]:
    """Per cohort: the paired noise, the margin, where the compute went, which ideas held on which classes and how
    many keeps climbed a rung (shared by ``feed`` and ``status``)."""
    lines = []
    plot = feed.get("plot") or {}
    for cohort, n in sorted((plot.get("noise") or {}).items()):
        paired = "-" if n.get("paired_std") is None else f"{n['paired_std']:.4f}"
        std = "-" if n.get("std") is None else f"{n['std']:.4f}"
        margin = n.get("paired_margin") if n.get("paired_margin") is not None else n.get("margin")
        lines.append(f"noise {cohort}: paired std {paired} ({n.get('pairs', 0)} pairs), unpaired std {std}, "
                     f"margin {'-' if margin is None else f'{margin:.4f}'} {_unit(feed)}")
    compute = feed.get("compute") or {}
    shares = compute.get("share") or {}
    if shares:
        lines.append("compute: " + ", ".join(f"{use} {share:.0%}" for use, share in
                                             sorted(shares.items(), key=lambda kv: -kv[1]))
                     + f" of {compute.get('total', 0.0) / 3600:.2f} h")
    transfers = feed.get("transfers") or {}
    lines += [f"idea {line}" for line in transfers.get("ideas") or []]
    if transfers.get("up_tested"):
        lines.append(f"rungs: {transfers['up_held']} of {transfers['up_tested']} rung-0 keeps re-tested higher up "
                     "held there")
    return lines


def _latest_table(feed: dict[str, Any], now: float, rows: int) -> Table:
    table = Table(title="Latest results", expand=True, title_justify="left")
    for name in ("when", "status", _metric_name(feed), "class", "node", "description"):
        table.add_column(name, overflow="fold" if name == "description" else "ellipsis")
    for r in feed["latest"][:rows]:
        status = r["status"] + (" (attest)" if r["reproduces"] else "") + (
            f" [{r['action']} #{r['run_index']}]" if r.get("action") not in (None, "unknown") else "")
        table.add_row(_ago(r["created_at"], now), Text(status, style=STATUS_STYLE.get(r["status"], "")),
                      _metric(r["metric"]), r["hw_class"], _short(r["author"]), Text(r["description"]))
    return table


def _current(feed: dict[str, Any]) -> RenderableType:
    cur = feed.get("current")
    peers = feed.get("peers") or []
    lines: list[RenderableType] = []
    if cur:
        fraction = max(0.0, min(1.0, float(cur.get("fraction") or 0.0)))
        eta = cur.get("eta_seconds")
        lines.append(Text(f"{cur.get('action', 'experiment')}: {cur.get('description', '')}"))
        lines.append(ProgressBar(total=1.0, completed=fraction, width=50))
        lines.append(Text(f"{fraction:.0%}" + (f"  ETA {int(eta)} s" if eta is not None else ""), style="dim"))
    else:
        lines.append(Text("no experiment running (or no node running on this home)", style="dim"))
    if feed.get("agent"):
        lines.append(Text(str(feed["agent"]), style="bold red"))
    for line in noise_lines(feed):
        lines.append(Text(line, style="dim"))
    links = (feed.get("net") or {}).get("links", {})
    lines.append(Text(f"{len(peers)} peer(s) connected: " + ", ".join(
        _short(p, 12) + (" (relayed)" if links.get(p) == "relayed" else "") for p in peers[:6]), style="dim"))
    for line in net_lines(feed.get("net")):  # AutoNAT's verdict, direct/relayed links (netpanel.py)
        lines.append(Text(line, style="dim"))
    return Panel(Group(*lines), title="Now", title_align="left")


def render_feed(feed: dict[str, Any], *, rows: int = 15, now: float | None = None) -> RenderableType:
    """One screen of the feed."""
    now = time.time() if now is None else now
    swarm = feed["swarm"]
    better = swarm.get("better", "lower")
    head = Text(f"swarm {_short(swarm['swarm_id'], 16)}  {swarm['name']}  budget {swarm['budget'] or '?'}  "
                f"{swarm.get('task', 'lm')}: {_metric_name(feed)} ({better} is better)  {feed['count']} results",
                style="bold cyan")
    return Group(head, _best_table(feed), _current(feed), _latest_table(feed, now, rows))


def follow(build: Callable[[], dict[str, Any]], *, interval: float = 1.0, rows: int = 15) -> None:
    """Redraw the feed until Ctrl-C."""
    with Live(render_feed(build(), rows=rows), refresh_per_second=4, screen=False) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(render_feed(build(), rows=rows))
        except KeyboardInterrupt:
            pass
