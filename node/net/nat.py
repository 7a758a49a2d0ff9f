"""AutoNAT: does the world reach this node? Peers dial it back and say; plus UPnP port mapping, opt-out.

Uses py-libp2p's AutoNAT v1 (``libp2p.host.autonat``: its wire format, its server's observed-IP rule) with one fix:
its server dials back with ``host.connect``, which returns at once when the asking peer is already connected (it is:
it just asked), so every node was told "public". :class:`DialBackService` instead opens a fresh TCP connection to
each address and checks that a libp2p listener answers with the multistream header (upstream:
``AutoNATService._try_dial`` reuses the existing connection).

:class:`Reachability` asks up to three directly connected peers every ``interval`` seconds; one that reached us
makes the node ``public``, answers that all failed make it ``private``, no answer leaves it ``unknown``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import multiaddr
import trio
from libp2p.abc import IHost
from libp2p.host.autonat.autonat import AUTONAT_PROTOCOL_ID, AutoNATService
from libp2p.host.autonat.pb.autonat_pb2 import Message
from libp2p.peer.id import ID

__all__ = ["DialBackService", "Reachability", "PUBLIC", "PRIVATE", "UNKNOWN", "probe_libp2p", "map_upnp_port"]

log = logging.getLogger(__name__)

PUBLIC, PRIVATE, UNKNOWN = "public", "private", "unknown"
MULTISTREAM = b"\x13/multistream/1.0.0\n"
PROBE_TIMEOUT = 3.0


async def probe_libp2p(ip: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """True if a fresh TCP connection to ``ip:port`` reaches a libp2p listener (it greets with multistream)."""
    with trio.move_on_after(timeout):
        try:
            stream = await trio.open_tcp_stream(ip, port)
        except OSError:
            return False
        async with stream:
            got = b""
            while len(got) < len(MULTISTREAM):
                chunk = await stream.receive_some(len(MULTISTREAM) - len(got))
                if not chunk:
                    return False
                got += chunk
            return got == MULTISTREAM
    return False


class DialBackService(AutoNATService):
    """py-libp2p's AutoNAT server and client, dialling back on a fresh connection (see the module docstring)."""

    async def _try_dial(self, peer_id: ID, addrs: list[bytes]) -> bytes | None:
        for raw in addrs[:8]:
            try:
                ma = multiaddr.Multiaddr(raw)
                ip = ma.value_for_protocol("ip4")
                port = int(ma.value_for_protocol("tcp"))
            except Exception:
                continue
            if await probe_libp2p(str(ip), port):
                return bytes(raw)
        return None


class Reachability:
    """This node's reachability as its peers see it: ``public``, ``private`` or ``unknown``."""

    def __init__(self, host: IHost, own_addrs: Callable[[], list[str]], *, interval: float = 60.0,
                 on_change: Callable[[str], Any] | None = None) -> None:
        self.host = host
        self.own_addrs = own_addrs
        self.interval = interval
        self.on_change = on_change
        self.service = DialBackService(host, serve=True, confirmations=1)  # type: ignore[arg-type]
        self.status = UNKNOWN

    async def run(self) -> None:
        await trio.sleep(1.0)
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("AutoNAT check")
            await trio.sleep(self.interval if self.status != UNKNOWN else 3.0)

    def _servers(self) -> list[ID]:
        out: list[ID] = []
        network = self.host.get_network()
        for peer, conns in list(getattr(network, "connections", {}).items()):
            direct = all("/p2p-circuit" not in str(a) for c in (conns if isinstance(conns, list) else [conns])
                         for a in (c.get_transport_addresses() or []))
            try:
                speaks = AUTONAT_PROTOCOL_ID in (self.host.get_peerstore().get_protocols(peer) or [])
            except Exception:
                speaks = False
            if direct and speaks:
                out.append(peer)
        return out[:3]

    async def check(self) -> str:
        servers = self._servers()
        if not servers:
            return self.status
        addrs = [multiaddr.Multiaddr(a.rsplit("/p2p/", 1)[0]).to_bytes() for a in self.own_addrs()
                 if "/p2p-circuit" not in a and "/tcp/" in a]
        verdicts: list[bool] = []
        for server in servers:
            try:
                status, _ = await self.service.query_server(server, addrs, timeout=PROBE_TIMEOUT * 3)
            except Exception as exc:
                log.debug("AutoNAT query to %s: %r", server, exc)
                continue
            verdicts.append(status == int(Message.OK))
        if verdicts:
            new = PUBLIC if any(verdicts) else PRIVATE
            if new != self.status:
                log.info("reachability: %s (asked %d peers)", new, len(verdicts))
                self.status = new
                if self.on_change is not None:
                    self.on_change(new)
        return self.status


async def map_upnp_port(port: int, timeout: float = 6.0) -> str | None:
    """Ask a UPnP router on the LAN to forward TCP ``port`` here; the external address, or None (no router)."""
    try:
        from libp2p.discovery.upnp.upnp import UpnpManager
    except ImportError:  # miniupnpc missing
        return None
    manager = UpnpManager()
    with trio.move_on_after(timeout):
        try:
            if await manager.discover() and await manager.add_port_mapping(port, "TCP"):
                external = manager.get_external_ip()
                if external:
                    return f"/ip4/{external}/tcp/{port}"
        except Exception as exc:
            log.debug("UPnP: %r", exc)
    return None
