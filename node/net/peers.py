"""Per-peer admission: rate limits before any signature check, penalties, and the blacklist.

py-libp2p's peer score counts invalid messages with the wrong sign, so this book keeps its own count:
a peer that sends ``max_invalid`` invalid messages is blacklisted. The book holds no I/O; the service
applies its verdicts (pubsub blacklist, disconnect, ledger note).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["PeerBook", "TokenBucket"]

log = logging.getLogger(__name__)


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


@dataclass
class PeerBook:
    """Rate limits and invalid-message counts per peer id (base58 text)."""

    max_invalid: int = 3
    rate: float = 200.0
    burst: float = 400.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _invalid: dict[str, int] = field(default_factory=dict)
    _blacklist: set[str] = field(default_factory=set)

    def allow(self, peer: str) -> bool:
        """Whether one more message from ``peer`` may be looked at now (blacklisted peers: never)."""
        if peer in self._blacklist:
            return False
        bucket = self._buckets.get(peer)
        if bucket is None:
            bucket = self._buckets[peer] = TokenBucket(self.rate, self.burst)
        return bucket.take(self.clock())

    def penalise(self, peer: str, reason: str) -> bool:
        """Count one invalid message; True exactly when this one puts the peer on the blacklist."""
        count = self._invalid.get(peer, 0) + 1
        self._invalid[peer] = count
        log.info("invalid message from %s (%d): %s", peer, count, reason)
        if count >= self.max_invalid and peer not in self._blacklist:
            self._blacklist.add(peer)
            log.warning("blacklisted %s after %d invalid messages", peer, count)
            return True
        return False

    def ban(self, peer: str) -> None:
        """Blacklist ``peer`` outright (e.g. from the ledger's record at start)."""
        self._blacklist.add(peer)

    def is_blacklisted(self, peer: str) -> bool:
        return peer in self._blacklist

    def invalid_count(self, peer: str) -> int:
        return self._invalid.get(peer, 0)

    def blacklisted(self) -> frozenset[str]:
        return frozenset(self._blacklist)
