"""DCUtR hole punching (py-libp2p's ``libp2p.relay.circuit_v2.dcutr``) with the relay released soon after.

Over every relayed connection py-libp2p's DCUtR tries a direct one (both ends dial at once from their listen port);
once one verifies it closes the relayed connection, but only after ``RELAY_CLOSE_GRACE_PERIOD``, a fixed 60 s: a
minute of one of the relay's few circuit slots per upgraded pair, on a relay that is some volunteer's node. New
streams already open on the direct connection (``links`` reports a peer ``direct`` as soon as it has one), so
:class:`HolePunch` closes the relayed leg after ``relay_grace`` seconds (streams in flight on it get that long to
finish) and counts the releases. Upstream keeps the grace a module constant bound as a default argument (it cannot be
changed from outside); behaviour is otherwise upstream's.
"""

from __future__ import annotations

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.dcutr import DCUtRProtocol

__all__ = ["HolePunch", "RELAY_GRACE", "relayed_conns"]

RELAY_GRACE = 10.0  # seconds a relayed connection stays open beside a verified direct one


def relayed_conns(host: IHost, peer: ID) -> int:
    """Open connections to ``peer`` that run through a relay (``/p2p-circuit``)."""
    conns = getattr(host.get_network(), "connections", {}).get(peer) or []
    count = 0
    for conn in conns if isinstance(conns, list) else [conns]:
        try:
            addrs = conn.get_transport_addresses() or []
        except Exception:
            continue
        if addrs and all("/p2p-circuit" in str(a) for a in addrs):
            count += 1
    return count


class HolePunch(DCUtRProtocol):  # type: ignore[misc]
    """py-libp2p's DCUtR; the relayed connection is closed ``relay_grace`` s after the direct one verifies."""

    def __init__(self, host: IHost, *, dial_timeout: float, relay_grace: float = RELAY_GRACE) -> None:
        super().__init__(host, dial_timeout=int(dial_timeout))
        self.relay_grace = relay_grace
        self.released = 0  # relayed connections closed after an upgrade

    async def _close_relayed_conns_after_grace(self, peer_id: ID, grace: float | None = None) -> None:
        await trio.sleep(self.relay_grace if grace is None else grace)
        before = relayed_conns(self.host, peer_id)
        await super()._close_relayed_conns_after_grace(peer_id, 0.0)  # closes only while a direct one verifies
        self.released += max(0, before - relayed_conns(self.host, peer_id))
