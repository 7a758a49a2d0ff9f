"""Peers (addresses and standing: trust, invalid messages, a ban with its reason and expiry) and claims (who is
running which train.py blob, until when)."""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import protocol
from node.errors import LedgerError
from node.ledger.base import LedgerBase, guarded
from node.ledger.rows import PEER_COLUMNS, PeerRow, addrs_json

__all__ = ["PeersAndClaims", "MAX_PEER_ID", "MAX_CLAIMS_PER_AUTHOR", "MAX_CLAIM_SECONDS", "MAX_CLAIMS_PER_SWARM"]

log = logging.getLogger(__name__)

MAX_PEER_ID = 128
MAX_REASON = 200
MAX_CLAIM_RAW = 64 * 1024
MAX_CLAIMS_PER_AUTHOR = 2  # per swarm, live or expired: a node claims the one experiment it runs (+ one in hand-over)
MAX_CLAIM_SECONDS = 1800.0  # the longest claim stored or forwarded (ours last Policy.claim_ttl, 600 s)
MAX_CLAIMS_PER_SWARM = 5_000  # fresh keys are free: the oldest-expiring go first beyond this (bounds each step)


def _peer_id(peer_id: str) -> str:
    if not isinstance(peer_id, str) or not 0 < len(peer_id) <= MAX_PEER_ID:
        raise LedgerError(f"peer id must be a string of 1-{MAX_PEER_ID} characters, got {str(peer_id)[:40]!r}")
    return peer_id


class PeersAndClaims(LedgerBase):
    """The peers and claims tables."""

    # -- peers -----------------------------------------------------------------------------------------------------

    @guarded
    def touch_peer(self, peer_id: str, addrs: Sequence[str] = ()) -> None:
        """Record that ``peer_id`` was seen now (first_seen kept); non-empty ``addrs`` replace its known addresses."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO peers (peer_id, addrs, first_seen, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(peer_id) DO UPDATE SET last_seen = excluded.last_seen, "
                "addrs = CASE WHEN excluded.addrs = '[]' THEN peers.addrs ELSE excluded.addrs END",
                (_peer_id(peer_id), addrs_json(addrs), now, now),
            )

    @guarded
    def note_invalid(self, peer_id: str, reason: str) -> int:
        """Count one invalid message from ``peer_id`` (reason kept, bounded); return its invalid count now."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO peers (peer_id, addrs, first_seen, last_seen, invalid_count, last_invalid) "
                "VALUES (?, '[]', ?, ?, 1, ?) ON CONFLICT(peer_id) DO UPDATE SET "
                "invalid_count = peers.invalid_count + 1, last_invalid = excluded.last_invalid",
                (_peer_id(peer_id), now, now, str(reason)[:MAX_REASON]),
            )
            count = self._one("SELECT invalid_count FROM peers WHERE peer_id = ?", (peer_id,))
        log.info("peer %s: invalid message #%d: %s", peer_id, count, str(reason)[:MAX_REASON])
        return int(count)

    @guarded
    def set_trust(self, peer_id: str, trust: float) -> None:
        """Record the research loop's trust score of ``peer_id`` (created if unknown)."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO peers (peer_id, addrs, first_seen, last_seen, trust) VALUES (?, '[]', ?, ?, ?) "
                "ON CONFLICT(peer_id) DO UPDATE SET trust = excluded.trust",
                (_peer_id(peer_id), now, now, float(trust)),
            )

    @guarded
    def get_peer(self, peer_id: str) -> PeerRow | None:
        row = self._conn.execute(f"SELECT {PEER_COLUMNS} FROM peers WHERE peer_id = ?", (peer_id,)).fetchone()
        return None if row is None else PeerRow.from_row(row)

    @guarded
    def peers(self) -> list[PeerRow]:
        """Every known peer, most recently seen first."""
        cur = self._conn.execute(f"SELECT {PEER_COLUMNS} FROM peers ORDER BY last_seen DESC, peer_id")
        return [PeerRow.from_row(row) for row in cur]

    @guarded
    def is_blacklisted(self, peer_id: str, now: float | None = None) -> bool:
        """Whether a ban of ``peer_id`` is in force at ``now`` (default: now)."""
        until = self._one("SELECT banned_until FROM peers WHERE peer_id = ?", (peer_id,))
        return until is not None and float(until) > (time.time() if now is None else now)

    @guarded
    def ban_peer(self, peer_id: str, reason: str, until: float) -> None:
        """Record a ban of ``peer_id`` until ``until`` (``time.time()`` seconds), with its reason (bounded)."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO peers (peer_id, addrs, first_seen, last_seen, ban_reason, banned_until) "
                "VALUES (?, '[]', ?, ?, ?, ?) ON CONFLICT(peer_id) DO UPDATE SET "
                "ban_reason = excluded.ban_reason, banned_until = excluded.banned_until",
                (_peer_id(peer_id), now, now, str(reason)[:MAX_REASON], float(until)))

    @guarded
    def lift_ban(self, peer_id: str) -> None:
        """Forget the ban of ``peer_id`` (expired): its invalid count starts again from zero."""
        with self._write() as conn:
            conn.execute("UPDATE peers SET ban_reason = '', banned_until = 0, invalid_count = 0 WHERE peer_id = ?",
                         (peer_id,))

    @guarded
    def bans(self, now: float | None = None) -> list[tuple[str, str, float]]:
        """(peer id, reason, until) of every ban still in force at ``now`` (default: now), soonest expiry first."""
        now = time.time() if now is None else now
        cur = self._conn.execute("SELECT peer_id, ban_reason, banned_until FROM peers WHERE banned_until > ? "
                                 "ORDER BY banned_until, peer_id", (now,))
        return [(str(peer), str(reason), float(until)) for peer, reason, until in cur]

    # -- claims ----------------------------------------------------------------------------------------------------

    @guarded
    def put_claim(self, v: protocol.Verified) -> bool:
        """Store a verified ``Claim`` (one per swarm, author, blob; a later expiry replaces it); True if kept.

        Claims cost their author nothing, so they are bounded here: one lasting over ``MAX_CLAIM_SECONDS`` is refused,
        and only an author's ``MAX_CLAIMS_PER_AUTHOR`` latest-expiring claims in a swarm are kept (expired ones
        included: the coordinator checks whether they were followed by a result)."""
        msg = v.message
        if not isinstance(msg, protocol.Claim):
            log.warning("ledger: put_claim got a %s, not a Claim", type(msg).__name__)
            return False
        raw = bytes(v.raw)
        if len(raw) > MAX_CLAIM_RAW:
            log.warning("ledger: claim envelope of %d bytes not stored", len(raw))
            return False
        if msg.expires_at - msg.created_at > MAX_CLAIM_SECONDS:
            log.info("ledger: a claim lasting %.0f s not stored (at most %.0f s)", msg.expires_at - msg.created_at,
                     MAX_CLAIM_SECONDS)
            return False
        author, swarm, blob = bytes(v.author), bytes(msg.swarm_id), str(msg.blob)
        with self._write() as conn:
            if conn.execute(
                "INSERT INTO claims (author, blob, swarm_id, expires_at, raw) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(swarm_id, author, blob) DO UPDATE SET "
                "expires_at = excluded.expires_at, raw = excluded.raw "
                "WHERE excluded.expires_at > claims.expires_at",
                (author, blob, swarm, float(msg.expires_at), raw),
            ).rowcount != 1:
                return False
            conn.execute(
                "DELETE FROM claims WHERE swarm_id = ? AND author = ? AND rowid NOT IN (SELECT rowid FROM claims "
                "WHERE swarm_id = ? AND author = ? ORDER BY expires_at DESC, rowid DESC LIMIT ?)",
                (swarm, author, swarm, author, MAX_CLAIMS_PER_AUTHOR))
            (total,) = conn.execute("SELECT COUNT(*) FROM claims WHERE swarm_id = ?", (swarm,)).fetchone()
            if total > MAX_CLAIMS_PER_SWARM:
                conn.execute("DELETE FROM claims WHERE rowid IN (SELECT rowid FROM claims WHERE swarm_id = ? "
                             "ORDER BY expires_at LIMIT ?)", (swarm, total - MAX_CLAIMS_PER_SWARM))
            return conn.execute("SELECT 1 FROM claims WHERE swarm_id = ? AND author = ? AND blob = ?",
                                (swarm, author, blob)).fetchone() is not None

    @guarded
    def active_claims(self, swarm_id: bytes, now: float) -> list[protocol.Claim]:
        """The ``Claim`` messages of a swarm that have not expired at ``now`` (soonest expiry first)."""
        cur = self._conn.execute(
            "SELECT raw FROM claims WHERE swarm_id = ? AND expires_at > ? ORDER BY expires_at", (swarm_id, now)
        )
        claims: list[protocol.Claim] = []
        for (raw,) in cur.fetchall():
            try:
                message = protocol.decode_and_verify(bytes(raw), expected_swarm=swarm_id, now=now).message
                if isinstance(message, protocol.Claim):
                    claims.append(message)
            except protocol.ProtocolError as exc:
                log.warning("ledger: stored claim no longer verifies: %s", exc)
        return claims

    @guarded
    def recent_claims(self, swarm_id: bytes) -> list[protocol.Claim]:
        """Every stored ``Claim`` of a swarm, live or expired (bounded per author by ``put_claim``), latest first."""
        cur = self._conn.execute("SELECT raw, expires_at FROM claims WHERE swarm_id = ? ORDER BY expires_at DESC",
                                 (swarm_id,))
        claims: list[protocol.Claim] = []
        for raw, expires_at in cur.fetchall():
            try:  # checked as of just before its expiry: it was live when it was stored
                message = protocol.decode_and_verify(bytes(raw), expected_swarm=swarm_id,
                                                     now=min(time.time(), float(expires_at) - 1e-3)).message
                if isinstance(message, protocol.Claim):
                    claims.append(message)
            except protocol.ProtocolError as exc:
                log.warning("ledger: stored claim no longer verifies: %s", exc)
        return claims

    @guarded
    def prune_claims(self, now: float) -> int:
        """Delete the claims expired at ``now``; return how many."""
        with self._write() as conn:
            return int(conn.execute("DELETE FROM claims WHERE expires_at <= ?", (now,)).rowcount)
