"""The trust book: this node's score per peer, from claims it confirmed or refuted by re-running, and invalid messages.

score = confirmed - 3 * refuted - invalid - 1.5 * unfulfilled. One refuted claim takes an unknown peer from 0 to -3,
under the default threshold of -2, at once: its later claims are ignored until it earns back with confirmed ones (it
would need 2 more confirmations than it had). ``unfulfilled`` is how many of its stored claims (the ledger keeps its
newest two) expired with no result of its own for that blob: two such take an unknown peer under the threshold, and
the debt goes once its newer claims are followed by results. Peers this node never checked start at 0 and are
trusted; their claims still do not block this node's exploration (coordinator.peers.claimed_blobs).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Mapping

from coordinator.records import TrustChange

__all__ = ["TrustBook", "PeerTrust"]

log = logging.getLogger(__name__)

CONFIRMED_WEIGHT = 1.0
REFUTED_WEIGHT = 3.0
INVALID_WEIGHT = 1.0
UNFULFILLED_WEIGHT = 1.5


@dataclass(frozen=True)
class PeerTrust:
    confirmed: int = 0
    refuted: int = 0
    invalid: int = 0
    unfulfilled: int = 0

    @property
    def score(self) -> float:
        return (CONFIRMED_WEIGHT * self.confirmed - REFUTED_WEIGHT * self.refuted - INVALID_WEIGHT * self.invalid
                - UNFULFILLED_WEIGHT * self.unfulfilled)


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
        return self._change(peer, "confirmed", dataclasses.replace(t, confirmed=t.confirmed + 1))

    def refute(self, peer: bytes) -> TrustChange:
        t = self.get(peer)
        return self._change(peer, "refuted", dataclasses.replace(t, refuted=t.refuted + 1))

    def note_invalid(self, peer: bytes, count: int = 1) -> TrustChange:
        t = self.get(peer)
        return self._change(peer, "invalid", dataclasses.replace(t, invalid=t.invalid + count))

    def sync_invalid(self, counts: Mapping[bytes, int]) -> list[TrustChange]:
        """Raise the invalid counts to what node/ has seen (counts only grow); return the changes."""
        changes = []
        for peer, count in counts.items():
            t = self.get(peer)
            if count > t.invalid:
                changes.append(self._change(peer, "invalid", dataclasses.replace(t, invalid=count)))
        return changes

    def sync_unfulfilled(self, counts: Mapping[bytes, int]) -> list[TrustChange]:
        """Set each peer's unfulfilled claims to what the swarm view shows now (peers absent owe none); the changes."""
        changes = []
        for peer in set(counts) | {p for p, t in self._peers.items() if t.unfulfilled}:
            t = self.get(peer)
            count = max(0, int(counts.get(peer, 0)))
            if count != t.unfulfilled:
                changes.append(self._change(peer, "unfulfilled", dataclasses.replace(t, unfulfilled=count)))
        return changes

    def snapshot(self) -> dict[bytes, PeerTrust]:
        return dict(self._peers)
