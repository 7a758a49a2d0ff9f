"""Circuit relay v2 for nodes behind NAT, on py-libp2p's ``libp2p.relay.circuit_v2``.

Every node serves the relay protocol (HOP) with bounded resources, :class:`RelayLimits`: a few reservations, a few
circuits per reserved peer, and each circuit cut after ``circuit_seconds`` or ``circuit_bytes``. Only publicly
reachable nodes are of use as relays: a node behind NAT (all its own addresses private) reserves a slot on the
connected peers it reached at a public address, and on any relay named with ``--relay``, and then advertises
``<relay addr>/p2p-circuit/p2p/<me>`` in its addresses and join string.

A node reaches a peer it is not connected to through its relays (``reach``): results, claims, sync, commits,
manifests and data then flow over the relayed connection like over any other. It also dials ``/p2p-circuit``
addresses it is given (join strings, bootstrap). The streams run over Mplex, which needs
:func:`node.net.duplex.make_mplex_full_duplex` for a tunnelled connection not to stall.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import multiaddr
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.config import RelayConfig, RelayRole
from libp2p.relay.circuit_v2.nat import is_private_ip
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP_PROTOCOL
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits as LibRelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

from node.errors import NetworkError
from node.net.holepunch import HolePunch
from node.net.host import parse_peer_addr
from node.net.nat import PRIVATE, UNKNOWN, Reachability, map_upnp_port
from node.net.relaybudget import BoundedRelay, SourceBudget
from node.net.seeding import dialable_addrs
from protocol.identity import peer_id_from_public_key

__all__ = ["RelayLimits", "Relays", "is_circuit", "public_ip", "bound_idle_circuits"]

log = logging.getLogger(__name__)

CIRCUIT = "/p2p-circuit"


@dataclass(frozen=True)
class RelayLimits:
    """What this node grants others as a relay (the node's own research never waits on these)."""

    max_reservations: int = 16          # peers that may hold a slot at once
    circuits_per_peer: int = 4          # open circuits to one reserved peer
    circuit_seconds: int = 600          # a circuit is cut after this long ...
    circuit_bytes: int = 64 << 20       # ... or after this many bytes, both directions together
    reservation_seconds: int = 3600     # a slot lapses unless renewed
    source_circuits_per_minute: int = 60    # one peer asking for more circuits than this ...
    source_bytes_per_hour: int = 256 << 20  # ... or moving more bytes through its circuits, is cut off ...
    cutoff_seconds: int = 600               # ... for this long (node/net/relaybudget.py)

    def to_libp2p(self) -> LibRelayLimits:
        return LibRelayLimits(duration=self.circuit_seconds, data=self.circuit_bytes,
                              max_circuit_conns=self.circuits_per_peer, max_reservations=self.max_reservations,
                              reservation_ttl=self.reservation_seconds)


def bound_idle_circuits() -> None:
    """Fix to py-libp2p 0.8.1's relay: a circuit's duration limit holds even when no byte flows (idempotent).

    ``CircuitV2Protocol._relay_data`` checks the deadline only between reads, so a circuit whose ends stay silent
    is never cut and holds one of its destination's few circuit slots for ever: a hostile peer could open
    ``circuits_per_peer`` silent circuits and make a home node unreachable. The pump now runs under the deadline.
    """
    if getattr(CircuitV2Protocol, "_swarm_node_bounded", False):
        return
    pump = CircuitV2Protocol._relay_data

    async def _relay_data(self: CircuitV2Protocol, src: Any, dst: Any, peer_id: ID, deadline: float | None = None,
                          circuit_data_limit: list[int] | None = None) -> None:
        if deadline is None:
            await pump(self, src, dst, peer_id, deadline, circuit_data_limit)
            return
        with trio.move_on_after(max(0.0, deadline - time.monotonic())) as scope:
            await pump(self, src, dst, peer_id, deadline, circuit_data_limit)
        if scope.cancelled_caught:
            log.info("relay: circuit for %s reached its duration limit; cut", peer_id)
            for stream in (src, dst):
                with trio.move_on_after(2), contextlib.suppress(Exception):
                    await stream.reset()

    CircuitV2Protocol._relay_data = _relay_data  # type: ignore[method-assign]
    CircuitV2Protocol._swarm_node_bounded = True  # type: ignore[attr-defined]


def is_circuit(addr: str) -> bool:
    return CIRCUIT in addr


def public_ip(addr: str) -> str | None:
    """The IPv4/IPv6 address in ``addr`` if it is a public one (not RFC 1918, loopback, link-local, unspecified)."""
    try:
        ma = multiaddr.Multiaddr(addr)
    except Exception:
        return None
    for proto in ("ip4", "ip6"):
        try:
            ip = str(ma.value_for_protocol(proto))
        except Exception:
            continue
        if ip and ip not in ("0.0.0.0", "::") and not is_private_ip(ip) and ip != "::1":
            return ip
    return None


class Relays:
    """This node's relay service and its reservations on other relays (one per running ``NodeService``)."""

    def __init__(self, host: IHost, *, limits: RelayLimits, named: Iterable[str] = (), max_relays: int = 2,
                 interval: float = 2.0, dial_timeout: float = 10.0, upnp: bool = False,
                 authors: Callable[[], Iterable[bytes]] = tuple) -> None:
        self.host = host
        self.limits = limits
        self.named = tuple(named)
        self.max_relays = max_relays
        self.interval = interval
        self.dial_timeout = dial_timeout
        bound_idle_circuits()
        lib_limits = limits.to_libp2p()
        self.protocol = BoundedRelay(host, lib_limits, allow_hop=True, budget=SourceBudget(
            limits.source_circuits_per_minute, limits.source_bytes_per_hour, limits.cutoff_seconds))
        self.transport = CircuitV2Transport(
            host, self.protocol, RelayConfig(roles=RelayRole.HOP | RelayRole.STOP, limits=lib_limits))
        self.dcutr = HolePunch(host, dial_timeout=dial_timeout)  # hole punching over relayed connections
        self.reserved: dict[ID, str] = {}      # relay peer -> the relay's public address we reached it at
        self._failed: dict[ID, float] = {}
        self.private: bool | None = None       # None until known; set by :meth:`note_reachability`
        self.upnp = upnp
        self.authors = authors                 # public keys whose authors the mesh keeps reaching
        self.reachability = Reachability(host, self._dialback_addrs, on_change=lambda status: (
            self.note_reachability(None if status == UNKNOWN else status == PRIVATE)))
        self.mapped: list[str] = []            # a UPnP router's external address for our port

    # ------------------------------------------------------------------ what the node shows

    def circuit_addrs(self) -> list[str]:
        me = self.host.get_id().to_base58()
        return [f"{addr}{CIRCUIT}/p2p/{me}" for addr in self.reserved.values()]

    def advertised(self, listening: list[str]) -> list[str]:
        """The addresses to give out (``svc.addrs()``, join strings): behind NAT (AutoNAT) only working ones."""
        circuits = self.circuit_addrs()
        if self.reachability.status == PRIVATE and circuits:
            return self.mapped_addrs() + circuits
        return listening + self.mapped_addrs() + circuits

    def _dialback_addrs(self) -> list[str]:
        """What AutoNAT asks peers to dial: listen addresses (0.0.0.0 as this machine's address), UPnP mapping."""
        me = self.host.get_id().to_base58()
        own = [str(a) for a in self.host.get_addrs() if not is_circuit(str(a))] + self.mapped
        return dialable_addrs([a.split("/p2p/")[0] for a in own], me)

    def mapped_addrs(self) -> list[str]:
        me = self.host.get_id().to_base58()
        return [f"{addr}/p2p/{me}" for addr in self.mapped]

    def links(self) -> dict[str, str]:
        """Connected peer -> ``direct`` or ``relayed`` (a connection through a relay)."""
        out: dict[str, str] = {}
        for peer, conns in list(getattr(self.host.get_network(), "connections", {}).items()):
            kinds = set()
            for conn in conns if isinstance(conns, list) else [conns]:
                try:
                    relayed = any(is_circuit(str(a)) for a in conn.get_transport_addresses() or [])
                except Exception:
                    relayed = False
                kinds.add("relayed" if relayed else "direct")
            out[peer.to_base58()] = "direct" if "direct" in kinds else "relayed"
        return out

    def relay_count(self) -> int:
        """Peers holding a reservation on this node now."""
        manager = self.protocol.resource_manager
        manager._clean_expired()
        return len(manager._reservations)

    def circuit_count(self) -> int:
        """Circuits this node relays now (between other peers)."""
        manager = self.protocol.resource_manager
        return sum(r.active_connections for r in list(manager._reservations.values()))

    def panel(self) -> dict[str, Any]:
        """What the feed's peer panel shows (stored as ``STATE_NET``, read by node/feed/netpanel.py)."""
        return {"reachability": self.reachability.status, "links": self.links(), "relaying": self.circuit_count()}

    def note_reachability(self, private: bool | None) -> None:
        self.private = private

    # ------------------------------------------------------------------ running

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with background_trio_service(self.protocol), background_trio_service(self.dcutr):
            await self.protocol.event_started.wait()
            task_status.started()
            async with trio.open_nursery() as nursery:
                if self.upnp and self._behind_nat():
                    nursery.start_soon(self._map_port)
                nursery.start_soon(self.reachability.run)
                nursery.start_soon(self.mesh, lambda: [peer_id_from_public_key(a) for a in self.authors()])
                await self._reservation_loop()

    async def _reservation_loop(self) -> None:
        while True:
            try:
                await self._keep_reservations()
            except Exception:  # one bad relay must not stop the loop
                log.exception("relay reservations")
            await trio.sleep(self.interval)

    async def _map_port(self) -> None:
        for addr in self.host.get_addrs():
            try:
                port = int(addr.value_for_protocol("tcp"))
            except Exception:
                continue
            mapped = await map_upnp_port(port)
            if mapped:
                log.info("UPnP: the router forwards %s here", mapped)
                self.mapped.append(mapped)
            return

    def _behind_nat(self) -> bool:
        if self.private is not None:
            return self.private
        own = [str(a) for a in self.host.get_addrs() if not is_circuit(str(a))]
        return not any(public_ip(a) for a in own) and not any("/ip4/127." in a for a in own)

    def _candidates(self) -> list[tuple[ID, str]]:
        """(peer, its public address) for relays to try: named ones first, then connected public peers."""
        out: list[tuple[ID, str]] = []
        for addr in self.named:
            try:
                info = parse_peer_addr(addr)
            except NetworkError as exc:
                log.warning("--relay %s", exc)
                continue
            bare = str(info.addrs[0]) if info.addrs else ""
            out.append((info.peer_id, bare))
        network = self.host.get_network()
        for peer, conns in list(getattr(network, "connections", {}).items()):
            for conn in conns if isinstance(conns, list) else [conns]:
                remote = self._remote_addr(conn)
                if remote and public_ip(remote):
                    out.append((peer, remote))
                    break
        return out

    @staticmethod
    def _remote_addr(conn: object) -> str | None:
        try:
            addrs = conn.get_transport_addresses()  # type: ignore[attr-defined]
        except Exception:
            return None
        for addr in addrs or []:
            text = str(addr)
            if not is_circuit(text):
                return text.split("/p2p/")[0]
        return None

    async def _keep_reservations(self) -> None:
        connected = set(self.host.get_connected_peers())
        for peer in [p for p in self.reserved if p not in connected]:
            log.info("relay %s disconnected; its reservation is dropped", peer)
            del self.reserved[peer]
        if not (self.named or self._behind_nat()):
            return
        now = trio.current_time()
        for peer, addr in self._candidates():
            if len(self.reserved) >= self.max_relays:
                return
            if peer in self.reserved or peer == self.host.get_id() or now - self._failed.get(peer, -1e9) < 30:
                continue
            if await self._reserve(peer, addr):
                self.reserved[peer] = f"{addr}/p2p/{peer.to_base58()}"
                log.info("reserved a relay slot on %s; reachable at %s", peer, self.circuit_addrs()[-1])
            else:
                self._failed[peer] = now

    async def _reserve(self, peer: ID, addr: str) -> bool:
        with trio.move_on_after(self.dial_timeout):
            try:
                if peer not in self.host.get_connected_peers():
                    await self.host.connect(parse_peer_addr(f"{addr}/p2p/{peer.to_base58()}"))
                stream = await self.host.new_stream(peer, [HOP_PROTOCOL])
                try:
                    return bool(await self.transport._make_reservation(stream, peer))
                finally:
                    await stream.close()
            except Exception as exc:
                log.debug("relay reservation on %s failed: %r", peer, exc)
        return False

    # ------------------------------------------------------------------ dialling through relays

    async def dial(self, addr: str) -> str:
        """Connect through the circuit address ``addr`` (``.../p2p/<relay>/p2p-circuit/p2p/<peer>``)."""
        relay_part, _, target = addr.partition(CIRCUIT)
        try:
            target_id = ID.from_base58(target.rsplit("/p2p/", 1)[-1])
            relay = parse_peer_addr(relay_part)
        except Exception as exc:
            raise NetworkError(f"not a circuit address (<relay>/p2p-circuit/p2p/<peer>): {addr!r} ({exc})") from exc
        if target_id in self.host.get_connected_peers():
            return target_id.to_base58()
        with trio.move_on_after(self.dial_timeout):
            try:
                if relay.peer_id not in self.host.get_connected_peers():
                    await self.host.connect(relay)
                await self.transport.dial(multiaddr.Multiaddr(f"{relay_part}{CIRCUIT}/p2p/{target_id.to_base58()}"))
                return target_id.to_base58()
            except Exception as exc:
                raise NetworkError(f"cannot connect through relay {relay.peer_id}: {exc!r}") from exc
        raise NetworkError(f"connecting through relay {relay.peer_id} timed out")

    async def reach_author(self, author: bytes) -> bool:
        """:meth:`reach` the node whose Ed25519 public key is ``author``."""
        return await self.reach(ID.from_base58(peer_id_from_public_key(author)))

    async def reach(self, peer: ID) -> bool:
        """Connect to ``peer`` through a relay that serves it, if it is not connected already; True if connected."""
        if peer in self.host.get_connected_peers():
            return True
        if peer == self.host.get_id():
            return False
        now = trio.current_time()
        if now - self._failed.get(peer, -1e9) < 10:
            return False
        relays = [p for p in self.host.get_connected_peers() if p != peer and self._serves_hop(p)]
        for relay in relays:
            remote = self._relay_addr(relay)
            if remote is None:
                continue
            try:
                await self.dial(f"{remote}{CIRCUIT}/p2p/{peer.to_base58()}")
                return True
            except NetworkError as exc:
                log.debug("reach %s via %s: %s", peer, relay, exc)
        self._failed[peer] = now
        return False

    def _serves_hop(self, peer: ID) -> bool:
        """True unless ``peer``'s protocols are known and lack HOP: right after connecting, identify may not have
        answered yet (seconds on a loaded machine), and a one-shot ``verify`` then found no relay at all."""
        try:
            protocols = self.host.get_peerstore().get_protocols(peer) or []
        except Exception:
            protocols = []
        return not protocols or HOP_PROTOCOL in protocols

    def _relay_addr(self, relay: ID) -> str | None:
        if relay in self.reserved:
            return self.reserved[relay]
        conns = getattr(self.host.get_network(), "connections", {}).get(relay)
        for conn in conns if isinstance(conns, list) else [conns] if conns else []:
            remote = self._remote_addr(conn)
            if remote:
                return f"{remote}/p2p/{relay.to_base58()}"
        return None

    async def mesh(self, wanted: Callable[[], Iterable[str]], *, per_round: int = 8, interval: float = 5.0) -> None:
        """Keep reaching the peers ``wanted()`` names (peer ids, e.g. the authors of results) through relays.

        Only while this node is behind NAT or holds a reservation: peers on one network find each other directly.
        """
        while True:
            if self.reserved or self.named:
                connected = {p.to_base58() for p in self.host.get_connected_peers()}
                me = self.host.get_id().to_base58()
                todo = [p for p in wanted() if p not in connected and p != me][:per_round]
                for text in todo:
                    try:
                        await self.reach(ID.from_base58(text))
                    except Exception as exc:
                        log.debug("reach %s: %r", text, exc)
            await trio.sleep(interval)
