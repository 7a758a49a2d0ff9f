"""The trust book: this node's score per peer, from claims it confirmed or refuted by re-running, and invalid messages.

score = confirmed - 3 * refuted - invalid. One refuted claim takes an unknown peer from 0 to -3, under the default
threshold of -2, at once: its later claims are ignored until it earns back with confirmed ones (it would need 2 more
confirmations than it had). Peers this node never checked start at 0 and are trusted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Mapping

from coordinator.records import TrustChange

__all__ = ["TrustBook", "PeerTrust"]

log = logging.getLogger(__name__)

CONFIRMED_WEIGHT = 1.0
REFUTED_WEIGHT = 3.0
INVALID_WEIGHT = 1.0


@dataclass(frozen=True)
class PeerTrust:
    confirmed: int = 0
    refuted: int = 0
    invalid: int = 0

    @property
    def score(self) -> float:
        return CONFIRMED_WEIGHT * self.confirmed - REFUTED_WEIGHT * self.refuted - INVALID_WEIGHT * self.invalid


class TrustBook:
    """Per-peer counts (keyed by the author's 32-byte public key) and the threshold under which a peer is ignored."""

    def __init__(self, threshold: float = -2.0) -> None:
        self.threshold = threshold
        self._peers: dict[bytes, PeerTrust] = {}

    def get(self, peer: bytes) -> PeerTrust:
        return self._peers.get(peer, PeerTrust())

    def score(self, peer: bytes) -> float:
        return self.get(peer).score

    def trusted(self, peer: bytes) -> bool:
        return self.score(peer) >= self.threshold

    def _change(self, peer: bytes, event: str, new: PeerTrust) -> TrustChange:
        self._peers[peer] = new
        log.info("trust %s %s: score %.1f", peer.hex()[:12], event, new.score)
        return TrustChange(peer=peer, event=event, score=new.score)  # type: ignore[arg-type]

    def confirm(self, peer: bytes) -> TrustChange:
        t = self.get(peer)
        return self._change(peer, "confirmed", PeerTrust(t.confirmed + 1, t.refuted, t.invalid))

    def refute(self, peer: bytes) -> TrustChange:
        t = self.get(peer)
        return self._change(peer, "refuted", PeerTrust(t.confirmed, t.refuted + 1, t.invalid))

    def note_invalid(self, peer: bytes, count: int = 1) -> TrustChange:
        t = self.get(peer)
        return self._change(peer, "invalid", PeerTrust(t.confirmed, t.refuted, t.invalid + count))

    def sync_invalid(self, counts: Mapping[bytes, int]) -> list[TrustChange]:
        """Raise the invalid counts to what node/ has seen (counts only grow); return the changes."""
        changes = []
        for peer, count in counts.items():
            t = self.get(peer)
            if count > t.invalid:
                changes.append(self._change(peer, "invalid", PeerTrust(t.confirmed, t.refuted, count)))
        return changes

    def snapshot(self) -> dict[bytes, PeerTrust]:
        return dict(self._peers)
