"""Build the shared results feed from a ledger: plain JSON-ready dicts for the terminal, the dashboard and ``--json``.

A running node records what it is doing in the ledger's key/value state (``STATE_CURRENT``, ``STATE_PEERS``,
``STATE_NOISE``); these views only read, so they work from a second process beside a running node (SQLite WAL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from coordinator.records import SeenResult
from node.feed.standing import (best_per_cohort, cohort_label, cohort_noise, cohort_of, compute_shares,
                                running_best)
from node.ledger import Ledger, ResultRow
from protocol import Manifest, ProtocolError, decode_and_verify

__all__ = [
    "STATE_CURRENT", "STATE_PEERS", "STATE_NOISE", "STATE_SWARM", "SwarmInfo",
    "build_feed", "result_dict", "pick_swarm", "swarm_info",
]

STATE_CURRENT = "current"  # {"action", "description", "fraction", "eta_seconds", "started_at"} or None
STATE_PEERS = "peers"  # list of connected peer ids, refreshed by the node
STATE_NOISE = "noise"  # {"margin", "std", "paired_std", "paired_margin", "runs", "hw_class", "best"} (research loop)
STATE_SWARM = "active_swarm"  # hex id of the swarm the node is working on

LATEST = 50
LINEAGE = 500


@dataclass(frozen=True)
class SwarmInfo:
    swarm_id: bytes
    name: str
    budget: str
    metric: str


def pick_swarm(ledger: Ledger, wanted: str | None = None) -> bytes | None:
    """The swarm to show: ``wanted`` (a hex id or prefix), else the node's active swarm, else the only one."""
    known = ledger.swarm_ids()
    if wanted:
        hits = [s for s in known if s.hex().startswith(wanted.lower())]
        return hits[0] if len(hits) == 1 else None
    active = ledger.get_state(STATE_SWARM)
    if isinstance(active, str):
        try:
            return bytes.fromhex(active)
        except ValueError:
            pass
    return known[0] if len(known) == 1 else None


def swarm_info(ledger: Ledger, swarm_id: bytes) -> SwarmInfo:
    raw = ledger.get_manifest(swarm_id)
    if raw is not None:
        try:
            manifest = decode_and_verify(raw).message
        except ProtocolError:
            manifest = None
        if isinstance(manifest, Manifest):
            return SwarmInfo(swarm_id, manifest.name, str(manifest.budget), manifest.metric_name)
    return SwarmInfo(swarm_id, "", "", "val_bpb")


def result_dict(row: ResultRow) -> dict[str, Any]:
    """One result as JSON-ready data (hex for bytes; the raw envelope left out)."""
    return {
        "id": row.message_id.hex(),
        "author": row.author.hex(),
        "seq": row.seq,
        "kind": row.kind,
        "reproduces": row.reproduces.hex(),
        "commit": row.commit,
        "parent": row.parent,
        "blob": row.blob,
        "metric": row.metric,
        "status": row.status,
        "hw_class": row.hw_class,
        "budget": row.budget,
        "steps": row.steps,
        "tokens": row.tokens,
        "wall_seconds": row.wall_seconds,
        "description": row.description,
        "created_at": row.created_at,
        "action": row.action,
        "run_index": row.run_index,
        "cpu_seconds": row.cpu_seconds,
        "clock": row.clock,
        "cohort": cohort_of(row),
    }


def _best_per_class(rows: Sequence[ResultRow], seen: Sequence[SeenResult]) -> list[dict[str, Any]]:
    """Best per cohort (hardware class + clock) by the mean of a train.py's runs (see ``node.feed.standing``)."""
    return best_per_cohort(rows, seen)


def _plot(rows: Sequence[ResultRow], best: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the dashboard draws: every result as a point, per cohort the running best (a step line of means) and
    its noise (the keep margin around it)."""
    cohorts = sorted({cohort_of(r) for r in rows})
    noise = {c: cohort_noise(rows, c) for c in cohorts}
    return {
        "points": [{"t": r.created_at, "metric": r.metric, "status": r.status, "attestation": bool(r.reproduces),
                    "action": r.action, "author": r.author.hex()[:8], "cohort": cohort_of(r),
                    "run_index": r.run_index, "description": r.description[:120]} for r in rows],
        "running_best": running_best(rows),
        "noise": noise,
        "labels": {c: cohort_label(c) for c in cohorts},
    }


def build_feed(ledger: Ledger, swarm_id: bytes, *, latest: int = LATEST) -> dict[str, Any]:
    """The whole feed of one swarm: best per class, latest results, the best-so-far series, lineage, live state."""
    rows = ledger.results(swarm_id)
    seen = [SeenResult(r.message_id, r) for r in rows]
    info = swarm_info(ledger, swarm_id)
    kept = [r for r in rows if r.status == "keep" and not r.reproduces and r.action != "rerun"]
    best = _best_per_class(rows, seen)
    newest = sorted(rows, key=lambda r: r.created_at, reverse=True)[:latest]
    current = ledger.get_state(STATE_CURRENT)
    peers = ledger.get_state(STATE_PEERS, [])
    return {
        "swarm": {"swarm_id": swarm_id.hex(), "name": info.name, "budget": info.budget, "metric": info.metric},
        "count": len(rows),
        "best": best,
        "plot": _plot(rows, best),
        "compute": compute_shares(rows),
        "latest": [result_dict(r) for r in newest],
        "series": [
            {"t": r.created_at, "metric": r.metric, "hw_class": r.hw_class, "author": r.author.hex()}
            for r in kept
        ],
        "lineage": [
            {"commit": r.commit, "parent": r.parent, "author": r.author.hex(), "metric": r.metric,
             "description": r.description}
            for r in sorted({r.commit: r for r in sorted(kept, key=lambda r: -r.created_at)}.values(),
                            key=lambda r: r.created_at)[-LINEAGE:]  # one entry per commit, its first result
        ],
        "current": current if isinstance(current, dict) else None,
        "peers": [p for p in peers if isinstance(p, str)] if isinstance(peers, list) else [],
        "noise": ledger.get_state(STATE_NOISE),
        "generated_at": time.time(),
    }
