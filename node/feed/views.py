"""Build the shared results feed from a ledger: plain JSON-ready dicts for the terminal, the dashboard and ``--json``.

A running node records what it is doing in the ledger's typed status records (``ledger.status``: the current run,
the connected peers, the noise, the agent's note); these views only read, so they work from a second process beside
a running node (SQLite WAL).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from coordinator.direction import cost, sort_key
from coordinator.peers import Verification, verifications, vouched_peers
from coordinator.records import SeenResult
from coordinator.transfer import transfer_counts, transfer_lines
from node.feed.netpanel import STATE_NET, net_state
from node.feed.standing import (best_per_cohort, cohort_label, cohort_noise, cohort_of, compute_shares,
                                running_best)
from node.config import NodeConfig
from node.ledger import Ledger, ResultRow
from protocol import Manifest, ProtocolError, decode_and_verify

__all__ = [
    "SwarmInfo",
    "build_feed", "result_dict", "pick_swarm", "swarm_info", "Viewer", "eligible_best", "viewer_of", "FAR_BETTER",
]

LATEST = 50
LINEAGE = 500


@dataclass(frozen=True)
class SwarmInfo:
    swarm_id: bytes
    name: str
    budget: str
    metric: str
    direction: str = "min"  # "max": a higher metric is better (accuracy, ndcg@10)
    task: str = "lm"        # the task kind
    rungs: str = ""         # the manifest's rungs (JSON; node.swarms.read_rungs), "" for none

    @property
    def better(self) -> str:
        """"higher" or "lower": which way the metric is better, for people."""
        return "higher" if self.direction == "max" else "lower"


def viewer_of(config: NodeConfig) -> Viewer:
    """The viewer of a node home: its identity's public key (if it has one yet) and the peers its user trusts."""
    from node.config import public_key_of_peer_id
    from protocol import Identity, ProtocolError

    me = b""
    try:
        if config.identity_path.exists():
            me = Identity.load(config.identity_path).public_key
    except (ProtocolError, OSError, ValueError):
        me = b""
    keys = (public_key_of_peer_id(p) for p in config.trusted_peers)
    return Viewer(me=me, trusted=frozenset(k for k in keys if k is not None))


def pick_swarm(ledger: Ledger, wanted: str | None = None) -> bytes | None:
    """The swarm to show: ``wanted`` (a hex id or prefix), else the node's active swarm, else the only one."""
    known = ledger.swarm_ids()
    if wanted:
        hits = [s for s in known if s.hex().startswith(wanted.lower())]
        return hits[0] if len(hits) == 1 else None
    active = ledger.status.active_swarm()
    if active is not None:
        return active
    return known[0] if len(known) == 1 else None


def swarm_info(ledger: Ledger, swarm_id: bytes) -> SwarmInfo:
    raw = ledger.get_manifest(swarm_id)
    if raw is not None:
        try:
            manifest = decode_and_verify(raw).message
        except ProtocolError:
            manifest = None
        if isinstance(manifest, Manifest):
            return SwarmInfo(swarm_id, manifest.name, str(manifest.budget), manifest.metric_name,
                             manifest.metric_direction, manifest.task_kind, manifest.rungs)
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


@dataclass(frozen=True)
class Viewer:
    """Whose feed it is: the node's own key (its own runs and re-runs) and the keys of the peers its user trusts
    (``trusted_peers``). With neither, no peer's result is eligible as best: nothing has been reproduced here."""

    me: bytes = b""
    trusted: frozenset[bytes] = frozenset()


FAR_BETTER = 0.05  # a peer's result this much (relative) under this node's own best on its class needs a re-run here


def eligible_best(rows: Sequence[ResultRow], viewer: Viewer, has_blob: Callable[[str], bool],
                  hw_class: str | None = None, direction: str = "min"
                  ) -> dict[bytes, tuple[ResultRow, Verification, str]]:
    """claim id -> (an eligible kept claim, its verification, why it is eligible), for every eligible claim; which
    of them is best is the mean rule's call (:func:`node.feed.standing.standings` with this as its filter).

    Eligible: this node's own result; a peer's claim this node re-ran and that held; a claim by a peer the user
    trusts, or confirmed by one such peer or by ``QUORUM`` peers this node reproduced (coordinator.peers), provided
    some peer served its train.py to this node and it is not ``FAR_BETTER`` than this node's own best on its class
    (then only a re-run here makes it eligible). Identities that merely exist never make a result best. "Better"
    follows the metric's ``direction``.
    """
    seen = [SeenResult(r.message_id, r) for r in rows]
    verifiers = vouched_peers(seen, me=viewer.me, direction=direction) if viewer.me else frozenset()
    checks = verifications(seen, me=viewer.me, verifiers=verifiers, trusted=viewer.trusted, direction=direction)
    own: dict[str, float] = {}
    for r in rows:
        if viewer.me and r.author == viewer.me and r.status != "crash":
            own[r.hw_class] = min(r.metric, own.get(r.hw_class, r.metric), key=sort_key(direction))
    out: dict[bytes, tuple[ResultRow, Verification, str]] = {}
    claims = sorted((r for r in rows if r.status == "keep" and not r.reproduces
                     and (hw_class is None or r.hw_class == hw_class)),
                    key=lambda r: (cost(r.metric, direction), r.created_at))
    for row in claims:
        check = checks.get(row.message_id, Verification(frozenset(), frozenset()))
        if viewer.me and row.author == viewer.me:
            out[row.message_id] = (row, check, "own run")
            continue
        if check.by_me is True:
            out[row.message_id] = (row, check, "re-run here")
            continue
        if check.by_me is False or not (check.verified or row.author in viewer.trusted):
            continue
        reference = own.get(row.hw_class)
        if reference is not None and _far_better(row.metric, reference, direction):
            continue  # far better than anything this node measured: shown once re-run here
        if not has_blob(row.blob):
            continue  # no peer served its train.py: nobody can check it, and `best` could not hand it out
        why = ("by a peer you trust" if row.author in viewer.trusted
               else f"confirmed by {len(check.counted)} trusted peer(s)")
        out[row.message_id] = (row, check, why)
    return out


def _far_better(metric: float, reference: float, direction: str) -> bool:
    """``FAR_BETTER`` (relative) better than ``reference``: under it for min, over it for max."""
    if direction == "max":
        return metric > reference + abs(reference) * FAR_BETTER
    return metric < reference * (1 - FAR_BETTER)


def _best_per_class(rows: Sequence[ResultRow], seen: Sequence[SeenResult], viewer: Viewer,
                    has_blob: Callable[[str], bool], direction: str = "min") -> list[dict[str, Any]]:
    """Best per cohort (hardware class + clock) by the mean of a train.py's runs (see ``node.feed.standing``), among
    the claims eligible for ``viewer`` (:func:`eligible_best`), with this node's verification of each."""
    eligible = eligible_best(rows, viewer, has_blob, direction=direction)
    out = best_per_cohort(rows, seen, eligible=lambda row: row.message_id in eligible, direction=direction)
    for item in out:
        _, check, why = eligible[bytes.fromhex(item["id"])]
        item.update(verified=check.verified, attestations=len(check.confirmed_by) + len(check.refuted_by),
                    confirmed=len(check.confirmed_by), eligible=why)
    return out


def _plot(rows: Sequence[ResultRow], best: Sequence[dict[str, Any]], direction: str = "min") -> dict[str, Any]:
    """What the dashboard draws: every result as a point, per cohort the running best (a step line of means) and
    its noise (the keep margin around it)."""
    cohorts = sorted({cohort_of(r) for r in rows})
    noise = {c: cohort_noise(rows, c) for c in cohorts}
    return {
        "points": [{"t": r.created_at, "metric": r.metric, "status": r.status, "attestation": bool(r.reproduces),
                    "action": r.action, "author": r.author.hex()[:8], "cohort": cohort_of(r),
                    "run_index": r.run_index, "description": r.description[:120]} for r in rows],
        "running_best": running_best(rows, direction=direction),
        "noise": noise,
        "labels": {c: cohort_label(c) for c in cohorts},
    }


def _agent_note(ledger: Ledger) -> str | None:
    note = ledger.status.agent_note()
    return note.note if note is not None and note.note else None


def _transfers(seen: Sequence[SeenResult]) -> dict[str, Any]:
    """Which ideas held on which classes, and how many rung-0 keeps were re-tested higher up and held there."""
    tested, held = transfer_counts(seen)
    return {"ideas": transfer_lines(seen), "up_tested": tested, "up_held": held}


def build_feed(ledger: Ledger, swarm_id: bytes, *, viewer: Viewer = Viewer(), latest: int = LATEST) -> dict[str, Any]:
    """The whole feed of one swarm: best per class (eligible for ``viewer``: see :func:`eligible_best`), latest
    results, the best-so-far series, lineage, live state."""
    rows = ledger.results(swarm_id)
    info = swarm_info(ledger, swarm_id)
    kept = [r for r in rows if r.status == "keep" and not r.reproduces and r.action != "rerun"]
    seen = [SeenResult(r.message_id, r) for r in rows]
    best = _best_per_class(rows, seen, viewer, lambda blob: ledger.get_commit(blob) is not None, info.direction)
    newest = sorted(rows, key=lambda r: r.created_at, reverse=True)[:latest]
    current = ledger.status.current()
    noise = ledger.status.noise()
    return {
        "swarm": {"swarm_id": swarm_id.hex(), "name": info.name, "budget": info.budget, "metric": info.metric,
                  "direction": info.direction, "better": info.better, "task": info.task},
        "count": len(rows),
        "best": best,
        "plot": _plot(rows, best, info.direction),
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
        "current": None if current is None else dataclasses.asdict(current),
        "peers": ledger.status.peers(),
        "net": net_state(ledger.get_state(STATE_NET)),  # reachability, direct/relayed per peer (netpanel.py)
        "noise": None if noise is None else dataclasses.asdict(noise),
        "agent": _agent_note(ledger),
        "transfers": _transfers(seen),
        "generated_at": time.time(),
    }
