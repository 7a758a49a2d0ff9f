"""mDNS wiring: discoveries from zeroconf's thread reach trio and get dialled; zeroconf is faked."""

from __future__ import annotations

import threading
from typing import Any

import trio
from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from node.net.mdns import LanDiscovery, service_fingerprint
from protocol import Identity

ME = ID.from_base58(Identity.from_private_bytes(b"\x01" * 32).peer_id)
OTHER = ID.from_base58(Identity.from_private_bytes(b"\x02" * 32).peer_id)
SWARM = bytes.fromhex("ab" * 32)


class FakeHost:
    def get_id(self) -> ID:
        return ME

    def get_network(self) -> object:
        return object()

    def get_connected_peers(self) -> list[ID]:
        return []


class FakeDiscovery:
    """Announces like zeroconf would: from another thread, including our own record."""

    made: list[dict[str, Any]] = []

    def __init__(self, network: object, **kwargs: Any) -> None:
        self.made.append(kwargs)
        self.stopped = False

    def start(self) -> None:
        def announce() -> None:
            peerDiscovery.emit_peer_discovered(PeerInfo(ME, []))      # ourselves: ignored
            peerDiscovery.emit_peer_discovered(PeerInfo(OTHER, []))
        threading.Thread(target=announce).start()

    def stop(self) -> None:
        self.stopped = True


def test_a_peer_announced_from_another_thread_is_dialled_once() -> None:
    dialled: list[ID] = []

    async def main() -> None:
        lan = LanDiscovery(FakeHost(), SWARM, 4001, factory=FakeDiscovery)  # type: ignore[arg-type]

        async def connect(info: PeerInfo) -> None:
            dialled.append(info.peer_id)

        with trio.move_on_after(5):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lan.run, connect)
                while not dialled:
                    await trio.sleep(0.01)
                nursery.cancel_scope.cancel()

    trio.run(main)
    assert dialled == [OTHER]
    assert FakeDiscovery.made[-1]["private_network_fingerprint"] == service_fingerprint(SWARM) == "ababab"
    assert FakeDiscovery.made[-1]["port"] == 4001


def test_fingerprint_keeps_the_service_label_short() -> None:
    assert len(f"_p2p-{service_fingerprint(bytes(32))}") <= 15
