"""GossipSub topics of a swarm and the gate that every gossiped message passes.

Topic names are versioned: ``/swarm-node/1/<swarm_id hex>/results`` and ``.../claims``.

:class:`GossipGate` is the topic validator. In order: blacklist and per-peer rate limit (before any
signature check), size bound, ``protocol`` decode + verify, the kind the topic carries, dedupe by
(author, seq). It returns a bool and never raises into py-libp2p. An accepted message is handed to
``on_accept`` right away (the service's own queue), so nothing depends on py-libp2p's 32-slot
subscription buffer. A rejected message is never forwarded; a real protocol violation counts against
the forwarder (``on_penalty``), a duplicate, a replay or a stale message is dropped without blame.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from node.ledger.peers import MAX_CLAIM_SECONDS
from protocol import Claim, ProtocolError, Result, StaleMessage, Verified

__all__ = ["Topics", "GossipGate", "Verify"]

log = logging.getLogger(__name__)

Verify = Callable[[bytes], Verified]
"""Decode and verify one envelope for this swarm (raises ``ProtocolError``)."""

SEEN_CAPACITY = 65536


@dataclass(frozen=True)
class Topics:
    """The versioned GossipSub topic names of one swarm."""

    swarm_id: bytes

    @property
    def results(self) -> str:
        return f"/swarm-node/1/{self.swarm_id.hex()}/results"

    @property
    def claims(self) -> str:
        return f"/swarm-node/1/{self.swarm_id.hex()}/claims"


class _Seen:
    """A bounded insertion-ordered set (oldest forgotten first)."""

    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[object, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def add(self, key: object) -> None:
        self._items[key] = None
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)


class GossipGate:
    """Validators for the results and claims topics of one swarm."""

    def __init__(
        self,
        *,
        me: str,
        verify: Verify,
        admit: Callable[[str], bool],
        have_result: Callable[[bytes, int], bool],
        on_result: Callable[[Verified], None],
        on_claim: Callable[[Verified], None],
        on_penalty: Callable[[str, str], None],
        max_bytes: int,
    ) -> None:
        self._me = me
        self._verify = verify
        self._admit = admit
        self._have_result = have_result
        self._on_result = on_result
        self._on_claim = on_claim
        self._on_penalty = on_penalty
        self._max_bytes = max_bytes
        self._seen: _Seen = _Seen(SEEN_CAPACITY)
        self.accepted = 0
        self.rejected = 0

    def mark_seen(self, author: bytes, seq: int) -> None:
        """Record a result that arrived another way (own publish, sync) so gossip copies are dropped."""
        self._seen.add((author, seq))

    def results_validator(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        return self._gate(forwarder, msg, Result)

    def claims_validator(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        return self._gate(forwarder, msg, Claim)

    def _gate(self, forwarder: ID, msg: rpc_pb2.Message, kind: type) -> bool:
        peer = forwarder.to_base58()
        if peer == self._me:
            return True  # our own publish: signed and stored before it was sent
        try:
            return self._check(peer, bytes(msg.data), kind)
        except Exception:  # a bug here must never reach py-libp2p's loop
            log.exception("gossip validator failed on a message from %s", peer)
            self.rejected += 1
            return False

    def _check(self, peer: str, raw: bytes, kind: type) -> bool:
        if not self._admit(peer):
            self.rejected += 1
            return False
        if len(raw) > self._max_bytes:
            self._reject(peer, f"oversized message ({len(raw)} bytes)")
            return False
        try:
            verified = self._verify(raw)
        except StaleMessage as exc:  # not by itself misbehaviour (clock skew, a claim expired in transit)
            self.rejected += 1
            log.debug("message from %s dropped: %s", peer, exc)
            return False
        except ProtocolError as exc:
            self._reject(peer, f"{type(exc).__name__}: {exc}")
            return False
        if not isinstance(verified.message, kind):
            self._reject(peer, f"a {type(verified.message).__name__} on the {kind.__name__} topic")
            return False
        message = verified.message
        if isinstance(message, Claim) and message.expires_at - message.created_at > MAX_CLAIM_SECONDS:
            self.rejected += 1  # valid under the protocol's 24 h, but squatting: dropped, not forwarded, nobody blamed
            log.debug("claim from %s dropped: lasts over %.0f s", peer, MAX_CLAIM_SECONDS)
            return False
        key: object = (verified.author, verified.message.seq) if kind is Result else verified.message_id
        if key in self._seen or (kind is Result and self._have_result(verified.author, verified.message.seq)):
            self.rejected += 1
            return False  # a duplicate: already stored, nothing to forward
        self._seen.add(key)
        self.accepted += 1
        (self._on_result if kind is Result else self._on_claim)(verified)
        return True

    def _reject(self, peer: str, reason: str) -> None:
        self.rejected += 1
        self._on_penalty(peer, reason)
