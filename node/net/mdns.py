"""LAN discovery: py-libp2p's mDNS (zeroconf) announces this node and reports others; we dial them.

py-libp2p reports discoveries through a process-wide ``peerDiscovery`` registry, from zeroconf's own
thread. :class:`LanDiscovery` registers a handler that hops into trio with the run's token, and a task
that dials each discovered peer once per sighting. The service type carries a short fingerprint of the
swarm id (``_p2p-<6 hex>._udp.local.``; service labels are limited to 15 characters), so nodes of
other swarms on the LAN are not dialled.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Protocol

import trio
from libp2p.abc import IHost
from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.discovery.mdns.mdns import create_mdns_discovery
from libp2p.peer.peerinfo import PeerInfo

__all__ = ["LanDiscovery", "service_fingerprint"]

log = logging.getLogger(__name__)


class _Discovery(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


Factory = Callable[..., _Discovery]


def service_fingerprint(swarm_id: bytes) -> str:
    """The private-network fingerprint of a swarm in its mDNS service type."""
    return swarm_id.hex()[:6]


class LanDiscovery:
    """Run inside a trio run: ``await lan.run(connect)`` until cancelled; stops zeroconf on the way out."""

    def __init__(self, host: IHost, swarm_id: bytes, port: int, *, factory: Factory = create_mdns_discovery) -> None:
        self._host = host
        self._swarm_id = swarm_id
        self._port = port
        self._factory = factory
        self._send, self._recv = trio.open_memory_channel[PeerInfo](256)
        self._token: trio.lowlevel.TrioToken | None = None
        self.discovered = 0

    def _on_discovered(self, info: PeerInfo) -> None:
        """Called from zeroconf's thread (or any thread): hand the peer to the trio side."""
        if info.peer_id == self._host.get_id() or self._token is None:
            return
        try:
            self._token.run_sync_soon(self._offer, info)
        except trio.RunFinishedError:
            pass

    def _offer(self, info: PeerInfo) -> None:
        try:
            self._send.send_nowait(info)
        except trio.WouldBlock:
            log.debug("mDNS: too many discoveries queued, dropped %s", info.peer_id)

    async def run(self, connect: Callable[[PeerInfo], Awaitable[Any]]) -> None:
        self._token = trio.lowlevel.current_trio_token()
        discovery = self._factory(
            self._host.get_network(), port=self._port, host=self._host,
            private_network_fingerprint=service_fingerprint(self._swarm_id),
        )
        peerDiscovery.register_peer_discovered_handler(self._on_discovered)
        try:
            discovery.start()
            log.info("mDNS: announcing on the LAN")
            async for info in self._recv:
                self.discovered += 1
                if info.peer_id in self._host.get_connected_peers():
                    continue
                try:
                    await connect(info)
                    log.info("mDNS: connected to %s", info.peer_id)
                except Exception as exc:
                    log.debug("mDNS: dial %s failed: %r", info.peer_id, exc)
        finally:
            peerDiscovery.unregister_peer_discovered_handler(self._on_discovered)
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_stop_quietly, discovery)


def _stop_quietly(discovery: _Discovery) -> None:
    try:
        discovery.stop()
    except Exception as exc:  # zeroconf raises various errors when the interface is already gone
        log.debug("mDNS stop: %r", exc)
