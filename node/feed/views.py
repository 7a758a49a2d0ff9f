"""Build the shared results feed from a ledger: plain JSON-ready dicts for the terminal, the dashboard and ``--json``.

A running node records what it is doing in the ledger's key/value state (``STATE_CURRENT``, ``STATE_PEERS``,
``STATE_NOISE``); these views only read, so they work from a second process beside a running node (SQLite WAL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from coordinator.peers import verification
from coordinator.records import SeenResult
from node.ledger import Ledger, ResultRow
from protocol import Manifest, ProtocolError, decode_and_verify

__all__ = [
    "STATE_CURRENT", "STATE_PEERS", "STATE_NOISE", "STATE_SWARM", "SwarmInfo",
    "build_feed", "result_dict", "pick_swarm", "swarm_info",
]

STATE_CURRENT = "current"  # {"action", "description", "fraction", "eta_seconds", "started_at"} or None
STATE_PEERS = "peers"  # list of connected peer ids, refreshed by the node
STATE_NOISE = "noise"  # {"margin", "std", "runs", "hw_class"} from the research loop
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
    }


def _best_per_class(rows: Sequence[ResultRow], seen: Sequence[SeenResult]) -> list[dict[str, Any]]:
    best: dict[str, ResultRow] = {}
    for row in rows:
        if row.status != "keep" or row.reproduces:
            continue
        current = best.get(row.hw_class)
        if current is None or row.metric < current.metric:
            best[row.hw_class] = row
    out = []
    for hw_class in sorted(best):
        row = best[hw_class]
        check = verification(row.message_id, seen)
        item = result_dict(row)
        item["verified"] = check.verified
        item["attestations"] = len(check.confirmed_by) + len(check.refuted_by)
        item["confirmed"] = len(check.confirmed_by)
        out.append(item)
    return out


def build_feed(ledger: Ledger, swarm_id: bytes, *, latest: int = LATEST) -> dict[str, Any]:
    """The whole feed of one swarm: best per class, latest results, the best-so-far series, lineage, live state."""
    rows = ledger.results(swarm_id)
    seen = [SeenResult(r.message_id, r) for r in rows]
    info = swarm_info(ledger, swarm_id)
    kept = [r for r in rows if r.status == "keep" and not r.reproduces]
    newest = sorted(rows, key=lambda r: r.created_at, reverse=True)[:latest]
    current = ledger.get_state(STATE_CURRENT)
    peers = ledger.get_state(STATE_PEERS, [])
    return {
        "swarm": {"swarm_id": swarm_id.hex(), "name": info.name, "budget": info.budget, "metric": info.metric},
        "count": len(rows),
        "best": _best_per_class(rows, seen),
        "latest": [result_dict(r) for r in newest],
        "series": [
            {"t": r.created_at, "metric": r.metric, "hw_class": r.hw_class, "author": r.author.hex()}
            for r in kept
        ],
        "lineage": [
            {"commit": r.commit, "parent": r.parent, "author": r.author.hex(), "metric": r.metric,
             "description": r.description}
            for r in sorted(kept, key=lambda r: r.created_at)[-LINEAGE:]
        ],
        "current": current if isinstance(current, dict) else None,
        "peers": [p for p in peers if isinstance(p, str)] if isinstance(peers, list) else [],
        "noise": ledger.get_state(STATE_NOISE),
        "generated_at": time.time(),
    }
