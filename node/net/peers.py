"""Per-peer admission: rate limits before any signature check, penalties, and the blacklist.

py-libp2p's peer score counts invalid messages with the wrong sign, so this book keeps its own count:
a peer that sends ``max_invalid`` invalid messages is banned for ``ban_seconds``, with the reason kept. The book
holds no I/O; the service applies its verdicts (pubsub blacklist, disconnect, ledger record) and lifts expired bans.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Ban", "PeerBook", "TokenBucket"]

log = logging.getLogger(__name__)

MAX_TRACKED = 100_000


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class Ban:
    """Why a peer is banned and until when (wall-clock seconds, ``time.time()``)."""

    peer: str
    reason: str
    until: float


@dataclass
class PeerBook:
    """Rate limits, invalid-message counts and bans per authenticated peer id (base58 text).

    Every id here comes from a Noise handshake (the only security transport the host offers), so a peer can
    only ever charge itself. A ban lasts ``ban_seconds`` and names the message that caused it.
    """

    max_invalid: int = 3
    rate: float = 200.0
    burst: float = 400.0
    ban_seconds: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _invalid: dict[str, int] = field(default_factory=dict)
    _bans: dict[str, Ban] = field(default_factory=dict)

    def allow(self, peer: str) -> bool:
        """Whether one more message from ``peer`` may be looked at now (banned peers: never)."""
        if self.is_blacklisted(peer):
            return False
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) > MAX_TRACKED:
                self._buckets.clear()  # bounded: a crowd of fresh ids only resets everyone's bucket to full
            bucket = self._buckets[peer] = TokenBucket(self.rate, self.burst)
        return bucket.take(self.clock())

    def penalise(self, peer: str, reason: str) -> Ban | None:
        """Count one invalid message; the new :class:`Ban` exactly when this one bans the peer, else None."""
        count = self._invalid.get(peer, 0) + 1
        if len(self._invalid) > MAX_TRACKED and peer not in self._invalid:
            self._invalid.clear()
        self._invalid[peer] = count
        log.info("invalid message from %s (%d): %s", peer, count, reason)
        if count >= self.max_invalid and not self.is_blacklisted(peer):
            ban = self.ban(peer, f"{count} invalid messages, the last: {reason}"[:200])
            log.warning("banned %s until %s: %s", peer, time.strftime("%H:%M:%S", time.localtime(ban.until)),
                        ban.reason)
            return ban
        return None

    def ban(self, peer: str, reason: str, until: float | None = None) -> Ban:
        """Ban ``peer`` until ``until`` (default: ``ban_seconds`` from now), e.g. from the ledger's record at start."""
        ban = Ban(peer, reason, self.wall() + self.ban_seconds if until is None else until)
        self._bans[peer] = ban
        return ban

    def is_blacklisted(self, peer: str) -> bool:
        """Whether a ban of ``peer`` is in force (one that ran out is lifted by :meth:`expired`)."""
        ban = self._bans.get(peer)
        return ban is not None and ban.until > self.wall()

    def expired(self) -> list[str]:
        """Lift every ban that has run out; return those peers (the service unblocks them in pubsub)."""
        now = self.wall()
        gone = [peer for peer, ban in self._bans.items() if ban.until <= now]
        for peer in gone:
            self._lift(peer)
        return gone

    def _lift(self, peer: str) -> None:
        self._bans.pop(peer, None)
        self._invalid.pop(peer, None)
        log.info("ban of %s expired", peer)

    def invalid_count(self, peer: str) -> int:
        return self._invalid.get(peer, 0)

    def blacklisted(self) -> frozenset[str]:
        return frozenset(p for p in list(self._bans) if self.is_blacklisted(p))

    def bans(self) -> list[Ban]:
        """The bans in force, soonest to expire first."""
        return sorted((b for b in list(self._bans.values()) if self.is_blacklisted(b.peer)), key=lambda b: b.until)
