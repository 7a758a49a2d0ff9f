"""Keeping a node linked: dial bootstrap and known peers, sync on connect and every few seconds.

Gossip only reaches nodes that are online and may drop under load, so :class:`Links` runs
anti-entropy with a peer as soon as it connects, and every ``sync_interval`` seconds with the
connected peer it synced with longest ago. It also redials the bootstrap peers and the peers the ledger remembers
whenever they are not connected (a restarted node finds its swarm again without arguments).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from node.config import NodeConfig
from node.errors import NetworkError
from node.ledger import Ledger
from node.net import sync
from node.net.dht import SwarmDHT
from node.net.errors import BadPayload, StreamFailed
from node.net.gossip import Verify
from node.net.guard import PeerGuard
from node.net.host import parse_peer_addr
from node.net.relay import RelayLimits
from protocol import Verified

__all__ = ["NetSettings", "Links"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NetSettings:
    """Network knobs of one node (the listen and bootstrap addresses come from ``NodeConfig``)."""

    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/4001",)
    bootstrap: tuple[str, ...] = ()
    mdns: bool = True
    sync_interval: float = 5.0        # anti-entropy with one connected peer (round-robin) this often
    redial_interval: float = 5.0      # retry bootstrap and remembered peers this often
    request_timeout: float = 10.0     # per stream request
    max_invalid: int = 3              # invalid messages before a peer is banned
    ban_seconds: float = 3600.0       # how long a ban lasts (it is kept in the ledger across restarts)
    max_concurrent_requests: int = 8  # stream requests served at once
    known_peers: int = 16             # remembered peers redialled at start
    dht: bool = True                  # run the Kademlia DHT (manifest record, swarm providers)
    announce_interval: float = 60.0   # re-put the manifest, re-provide, look for providers this often
    relays: tuple[str, ...] = ()      # --relay: relays to reserve a slot on (NAT traversal, relay.py)
    relay_limits: RelayLimits = RelayLimits()  # what this node grants others as a relay
    upnp: bool = True                 # map the listen port on a UPnP router (--no-upnp)

    @classmethod
    def from_config(cls, config: NodeConfig) -> NetSettings:
        """From a ``NodeConfig``: its listen, bootstrap, mdns, sync interval, relays and UPnP settings."""
        return cls(listen=tuple(config.listen), bootstrap=tuple(config.bootstrap), mdns=config.mdns,
                   sync_interval=config.sync_interval, relays=tuple(config.relays), upnp=config.upnp)


class Links:
    """Background tasks of a running node: dialling, syncing, remembering peers.

    Its collaborators are named, not reached for: the host, the ledger, this swarm's id and settings, the peer
    guard (who is banned, who to charge), ``connect`` (dial an address, relayed or direct), ``verify`` and ``store``
    (what a sync pulled: checked, then written through the inbox), and the DHT when it runs.
    """

    def __init__(self, *, host: IHost, ledger: Ledger, swarm_id: bytes, me: str, settings: NetSettings,
                 guard: PeerGuard, connect: Callable[[str], Awaitable[str]], verify: Verify,
                 store: Callable[[Sequence[Verified]], Awaitable[int]], dht: SwarmDHT | None) -> None:
        self._host = host
        self._ledger = ledger
        self._swarm_id = swarm_id
        self._me = me
        self._settings = settings
        self._guard = guard
        self._connect = connect
        self._verify = verify
        self._store = store
        self._dht = dht
        self._seen: set[ID] = set()
        self._syncing: set[ID] = set()
        self._last_sync: dict[ID, float] = {}
        self.synced = 0

    async def start(self, nursery: trio.Nursery) -> None:
        """Dial the bootstrap peers once (in the background), then keep everything linked."""
        nursery.start_soon(self._dial_loop)
        nursery.start_soon(self._watch_loop, nursery)
        nursery.start_soon(self._sync_loop)
        if self._dht is not None:
            nursery.start_soon(self._announce_loop, self._dht)

    def _targets(self) -> list[str]:
        addrs = list(self._settings.bootstrap)
        try:
            rows = list(self._ledger.peers())
        except Exception:
            rows = []
        rows.sort(key=lambda r: r.last_seen, reverse=True)
        for row in rows[: self._settings.known_peers]:
            if self._guard.is_banned(row.peer_id):
                continue
            for addr in row.addrs or ():
                addr = str(addr)
                addrs.append(addr if "/p2p/" in addr else f"{addr}/p2p/{row.peer_id}")
        return list(dict.fromkeys(addrs))

    async def _dial_loop(self) -> None:
        while True:
            connected = {p.to_base58() for p in self._host.get_connected_peers()}
            for addr in self._targets():
                try:
                    peer = parse_peer_addr(addr).peer_id.to_base58()
                except NetworkError as exc:
                    log.warning("%s", exc)
                    continue
                if peer in connected or peer == self._me or self._guard.is_banned(peer):
                    continue
                try:
                    await self._connect(addr)
                    connected.add(peer)
                except NetworkError as exc:
                    log.debug("dial %s: %s", addr, exc)
            await trio.sleep(self._settings.redial_interval)

    async def _watch_loop(self, nursery: trio.Nursery) -> None:
        """Notice new connections: remember the peer, sync with it at once."""
        while True:
            now = set(self._host.get_connected_peers())
            for peer in now - self._seen:
                self._remember(peer)
                nursery.start_soon(self.sync_with, peer)
                if self._dht is not None:
                    nursery.start_soon(self._dht.add_peer, peer)
            self._seen = now
            await trio.sleep(0.2)

    async def _sync_loop(self) -> None:
        """Every ``sync_interval`` s, anti-entropy with the connected peer synced longest ago.

        One peer per round, not all: each stream costs CPU on both sides, and epidemic pulls from one
        peer at a time still reach everything (gossip carries the bulk; this repairs its drops).
        """
        while True:
            await trio.sleep(self._settings.sync_interval)
            peers = list(self._host.get_connected_peers())
            if peers:
                await self.sync_with(min(peers, key=lambda p: self._last_sync.get(p, 0.0)))

    async def _announce_loop(self, dht: SwarmDHT) -> None:
        """Keep the swarm's DHT records alive and dial the providers it names."""
        await trio.sleep(2.0)  # let the first connections land in the routing table
        while True:
            envelope = self._ledger.get_manifest(self._swarm_id)
            if envelope is not None:
                try:
                    await dht.put_manifest(self._swarm_id, bytes(envelope))
                except Exception as exc:
                    log.debug("DHT put manifest: %r", exc)
            await dht.provide(self._swarm_id)
            connected = set(self._host.get_connected_peers())
            for info in await dht.providers(self._swarm_id):
                if info.peer_id not in connected and not self._guard.is_banned(info.peer_id.to_base58()):
                    with trio.move_on_after(self._settings.request_timeout):
                        try:
                            await self._host.connect(info)
                        except Exception as exc:
                            log.debug("dial provider %s: %r", info.peer_id, exc)
            await trio.sleep(self._settings.announce_interval)

    def _remember(self, peer: ID) -> None:
        text = peer.to_base58()
        if self._guard.is_banned(text):
            return
        try:
            addrs = [str(a) for a in self._host.get_peerstore().addrs(peer)]
        except Exception:
            addrs = []
        try:
            self._ledger.touch_peer(text, addrs)
        except Exception:
            log.exception("could not record peer %s", text)

    async def sync_with(self, peer: ID) -> int:
        """Pull what ``peer`` has and this node lacks; return how many results were new (0 on failure)."""
        if peer in self._syncing or self._guard.is_banned(peer.to_base58()):
            return 0
        self._syncing.add(peer)
        self._last_sync[peer] = trio.current_time()
        try:
            new = await sync.pull_from(
                self._host, peer, swarm_id=self._swarm_id, ledger=self._ledger, verify=self._verify,
                store=self._store, timeout=self._settings.request_timeout,
                max_response=sync.RESPONSE_BYTES + (64 << 10),
            )
        except BadPayload as exc:
            self._guard.penalise(peer.to_base58(), str(exc))
            return 0
        except StreamFailed as exc:
            log.debug("sync with %s failed: %s", peer, exc)
            return 0
        finally:
            self._syncing.discard(peer)
        if new:
            self.synced += new
            log.info("synced %d results from %s", new, peer)
        return new

    async def drop(self, peer: ID) -> None:
        """Hang up on a blacklisted peer."""
        with trio.move_on_after(2.0):
            try:
                await self._host.disconnect(peer)
            except Exception as exc:
                log.debug("disconnect %s: %r", peer, exc)
