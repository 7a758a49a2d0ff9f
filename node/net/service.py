"""``NodeService``: one node's presence in one swarm, started and stopped with ``async with``.

    async with NodeService(config, identity, ledger, swarm_id) as svc:
        results = svc.results_channel()          # every newly stored result, from gossip or sync
        await svc.publish_result(result)         # sign (ledger seq), store, gossip
        text = await svc.fetch_commit(blob)      # ask peers, verify the hash, store

On enter: the host listens, GossipSub runs with this swarm's validators, streams are served, bootstrap
peers are dialled, and background tasks keep peers connected and synced. On exit (or Ctrl-C): the tasks
are cancelled, queued results are written to the ledger, the host is closed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
from pathlib import Path
from types import TracebackType
from typing import AsyncIterator, Awaitable, TypeVar

import trio
from libp2p.custom_types import TProtocol
from libp2p.abc import ISubscriptionAPI
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.tools.anyio_service import background_trio_service

from protocol import Claim, Identity, Limits, Result, Verified, decode_and_verify, seal
from node.config import NodeConfig
from node.errors import NetworkError
from node.ledger import Ledger
from node.net import fetch, sync
from node.net.errors import BadPayload, StreamFailed, is_shutdown_race
from node.net.dht import SwarmDHT
from node.net.gossip import GossipGate, Topics
from node.net.host import build_host, parse_peer_addr, peer_addrs
from node.net.guard import PeerGuard
from node.net.inbox import ResultInbox
from node.net.links import Links, NetSettings
from node.net.mdns import LanDiscovery
from node.net.peers import Ban, PeerBook
from node.net.pubsub import GuardedPubsub
from node.net.relay import Relays, is_circuit
from node.net.streams import serve

__all__ = ["NodeService", "NetSettings"]

log = logging.getLogger(__name__)

GOSSIPSUB_PROTOCOLS = [TProtocol("/meshsub/1.2.0"), TProtocol("/meshsub/1.1.0"), TProtocol("/meshsub/1.0.0")]
"""1.2.0 first (IDONTWANT: a peer that has a large message tells its mesh not to send it); older peers still mesh."""
LIMITS = Limits()
T = TypeVar("T")


@contextlib.asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


class NodeService:
    """The network side of a node for one swarm (see the module docstring)."""

    def __init__(
        self,
        config: NodeConfig,
        identity: Identity,
        ledger: Ledger,
        swarm_id: bytes,
        *,
        settings: NetSettings | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self.ledger = ledger
        self.swarm_id = swarm_id
        self.settings = settings or NetSettings.from_config(config)
        self.topics = Topics(swarm_id)
        self.book = PeerBook(max_invalid=self.settings.max_invalid, ban_seconds=self.settings.ban_seconds)
        self.guard = PeerGuard(self.book, ledger, on_ban=self._on_ban, on_lift=self._on_lift)
        self._me = identity.peer_id
        self._data_files: dict[bytes, Path] = {}
        self._stack = contextlib.AsyncExitStack()
        self._nursery: trio.Nursery | None = None
        self.inbox = ResultInbox(ledger, swarm_id, mark_seen=lambda author, seq: self.gate.mark_seen(author, seq))
        self.gate = GossipGate(
            me=self._me,
            verify=self._verify,
            admit=lambda peer: not self.guard.is_banned(peer),  # its rate was charged before the signature
            have_result=self.inbox.have_result,
            on_result=self.inbox.enqueue,
            on_claim=self._store_claim,
            on_penalty=self.guard.penalise,
            max_bytes=LIMITS.max_envelope,
        )
        self.host, self._listen = build_host(identity.private_bytes, self.settings.listen, blame=self.guard.penalise)
        self.gossipsub = GossipSub(
            protocols=GOSSIPSUB_PROTOCOLS,
            degree=6,
            degree_low=4,
            degree_high=12,
            heartbeat_initial_delay=0.1,
            heartbeat_interval=1,
            max_messages_per_topic_per_second=1e9,  # its limit drops our own results above 10/s; PeerBook limits instead
        )
        self.pubsub = GuardedPubsub(
            self.host,
            self.gossipsub,
            msg_id_constructor=lambda msg: hashlib.sha256(msg.data).digest(),
            admit=self.guard.admit,
            blame=self.guard.penalise,
            max_data=LIMITS.max_envelope,
        )
        self.dht: SwarmDHT | None = SwarmDHT(self.host) if self.settings.dht else None
        self.links = Links(host=self.host, ledger=ledger, swarm_id=swarm_id, me=self._me, settings=self.settings,
                           guard=self.guard, connect=self.connect, verify=self._verify, store=self.inbox.store_async,
                           dht=self.dht)
        self.relays = Relays(self.host, limits=self.settings.relay_limits, named=self.settings.relays,  # NAT: relay.py
                             upnp=self.settings.upnp, authors=self.inbox.authors)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> NodeService:
        await self._stack.enter_async_context(self._running())
        log.info("node %s listening on %s", self._me, ", ".join(self.addrs()))
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        try:
            return await self._stack.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            # See is_shutdown_race: py-libp2p's race at close; the ledger is flushed, nothing is lost.
            _, rest = group.split(is_shutdown_race)
            if rest is not None:
                raise rest
            log.info("ignored py-libp2p connection errors at shutdown: %r", group.exceptions)
            return False

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        self.inbox.load_heads()
        self.guard.load_bans()
        async with self.host.run(listen_addrs=self._listen), background_trio_service(self.pubsub), \
                background_trio_service(self.gossipsub):
            await self.pubsub.wait_until_ready()
            for blocked in self.book.blacklisted():
                self.pubsub.add_to_blacklist(ID.from_base58(blocked))
            self.pubsub.set_topic_validator(self.topics.results, self.gate.results_validator, False)
            self.pubsub.set_topic_validator(self.topics.claims, self.gate.claims_validator, False)
            self._serve_streams()
            dht_service = background_trio_service(self.dht.kad) if self.dht is not None else _nothing()
            try:
                async with dht_service, trio.open_nursery() as nursery:
                    self._nursery = nursery
                    for topic in (self.topics.results, self.topics.claims):
                        subscription = await self.pubsub.subscribe(topic)
                        nursery.start_soon(self._drain, subscription)
                    nursery.start_soon(self.inbox.writer)
                    nursery.start_soon(self.guard.expire_bans)
                    await self.links.start(nursery)
                    await nursery.start(self.relays.run)
                    if self.settings.mdns:
                        nursery.start_soon(self._run_mdns)
                    try:
                        yield
                    finally:
                        nursery.cancel_scope.cancel()
            finally:
                self._nursery = None
                self._flush()

    def _flush(self) -> None:
        """Write whatever the gate accepted but the writer has not stored yet."""
        log.info("node %s stopped (%d results flushed at exit)", self._me, self.inbox.flush())

    def _serve_streams(self) -> None:
        limit = trio.Semaphore(self.settings.max_concurrent_requests)
        busy: dict[str, int] = {}
        server = fetch.FetchServer(self.ledger, self._locate_data)
        syncer = sync.SyncServer(self.swarm_id, self.ledger)
        for protocol, handler in (
            (sync.SYNC_PROTOCOL, syncer.handle),
            (fetch.COMMIT_PROTOCOL, server.commit),
            (fetch.MANIFEST_PROTOCOL, server.manifest),
            (fetch.DATA_PROTOCOL, server.data),
        ):
            serve(self.host, protocol, handler, max_request=LIMITS.max_request, timeout=self.settings.request_timeout,
                  limit=limit, admit=self.guard.admit, blame=self.guard.penalise, busy=busy)

    # ------------------------------------------------------------------ what the node shows the research loop

    def addrs(self) -> list[str]:
        """This node's dialable addresses (``.../p2p/<peer id>``): behind NAT (AutoNAT) only its relay circuits."""
        return self.relays.advertised(peer_addrs(self.host))

    @property
    def peer_id(self) -> str:
        return self._me

    def peers(self) -> list[str]:
        """The peer ids this node is connected to now."""
        return sorted(p.to_base58() for p in self.host.get_connected_peers())

    def results_channel(self, capacity: int = 1_000) -> trio.MemoryReceiveChannel[Verified]:
        """A channel that receives every result stored from now on (gossip, sync; not own publishes)."""
        return self.inbox.results_channel(capacity)

    async def publish_result(self, result: Result) -> Verified:
        """Sign ``result`` as this node (this swarm, this author, the next ledger seq: the fields only the service
        knows), store it, gossip it; return it as sent (``protocol.seal``: not decoded back)."""
        message = dataclasses.replace(result, swarm_id=self.swarm_id, author=self.identity.public_key,
                                      seq=self.ledger.next_seq(self.identity.public_key))
        verified = seal(self.identity, message)
        self.gate.mark_seen(verified.author, message.seq)
        self.ledger.add_results([verified])
        await self.pubsub.publish(self.topics.results, verified.raw)
        return verified

    async def publish_claim(self, claim: Claim) -> Verified:
        """Sign ``claim`` as this node, store it, gossip it."""
        verified = seal(self.identity, dataclasses.replace(claim, swarm_id=self.swarm_id,
                                                           author=self.identity.public_key))
        self.ledger.put_claim(verified)
        await self.pubsub.publish(self.topics.claims, verified.raw)
        return verified

    async def fetch_commit(self, blob: str, *, author: bytes = b"", parent: str = "") -> bytes | None:
        """train.py text of ``blob``: from the ledger, else from the first peer that has it (hash-verified)."""
        text = self.ledger.get_commit(blob)
        if text is not None:
            return bytes(text)
        if author:  # behind NAT the author may be reachable only through a relay
            with trio.move_on_after(self.settings.request_timeout):
                await self.relays.reach_author(author)
        for peer in self._peer_ids():
            text = await self._ask(peer, fetch.fetch_commit_from(
                self.host, peer, blob, timeout=self.settings.request_timeout, max_response=LIMITS.max_request))
            if text is not None:
                self.ledger.put_commit(blob, text, author, parent)
                return text
        return None

    async def fetch_manifest(self, swarm_id: bytes | None = None) -> bytes | None:
        """The signed manifest of ``swarm_id`` (default: this swarm): ledger first, then peers; verified."""
        swarm_id = swarm_id or self.swarm_id
        env = self.ledger.get_manifest(swarm_id)
        if env is not None:
            return bytes(env)
        for peer in self._peer_ids():
            env = await self._ask(peer, fetch.fetch_manifest_from(
                self.host, peer, swarm_id, timeout=self.settings.request_timeout, max_response=LIMITS.max_request))
            if env is not None:
                self.ledger.put_manifest(swarm_id, env)
                return env
        if self.dht is not None:
            env = await self.dht.get_manifest(swarm_id)
            if env is not None:
                self.ledger.put_manifest(swarm_id, env)
                return env
        return None

    async def fetch_data(self, data_hash: bytes, dest: Path) -> bool:
        """Fetch the data file with sha256 ``data_hash`` into ``dest`` from a peer; True once verified."""
        for peer in self._peer_ids():
            ok = await self._ask(peer, fetch.fetch_data_from(
                self.host, peer, data_hash, dest, timeout=self.settings.request_timeout,
                max_response=LIMITS.max_request))
            if ok:
                self.share_data(data_hash, dest)
                return True
        return False

    def share_data(self, data_hash: bytes, path: Path) -> None:
        """Serve the file at ``path`` (whose sha256 is ``data_hash``) on the data stream."""
        self._data_files[data_hash] = path

    async def connect(self, addr: str) -> str:
        """Dial ``addr`` (must end in ``/p2p/<id>``); return the peer id. :class:`NetworkError` on failure."""
        if is_circuit(addr):
            return str(await self.relays.dial(addr))
        info = parse_peer_addr(addr)
        with trio.move_on_after(self.settings.request_timeout):
            try:
                await self.host.connect(info)
                return str(info.peer_id.to_base58())
            except Exception as exc:
                raise NetworkError(f"cannot connect to {addr}: {exc!r}") from exc
        raise NetworkError(f"connecting to {addr} timed out")

    async def sync_now(self) -> int:
        """Run anti-entropy with every connected peer now; return how many results were new."""
        return sum([await self.links.sync_with(peer) for peer in self._peer_ids()])

    # ------------------------------------------------------------------ internals

    def _verify(self, raw: bytes) -> Verified:
        return decode_and_verify(raw, expected_swarm=self.swarm_id)

    def _peer_ids(self) -> list[ID]:
        return [p for p in self.host.get_connected_peers() if not self.guard.is_banned(p.to_base58())]

    async def _ask(self, peer: ID, call: Awaitable[T]) -> T | None:
        try:
            return await call
        except BadPayload as exc:
            self.guard.penalise(peer.to_base58(), str(exc))
        except StreamFailed as exc:
            log.info("request to %s failed: %s", peer, exc)
        return None

    def _store_claim(self, verified: Verified) -> None:
        self.ledger.put_claim(verified)

    def _on_ban(self, ban: Ban) -> None:
        """The guard banned a peer: drop its gossip and hang up."""
        peer_id = ID.from_base58(ban.peer)
        self.pubsub.add_to_blacklist(peer_id)
        if self._nursery is not None:
            self._nursery.start_soon(self.links.drop, peer_id)

    def _on_lift(self, peer: str) -> None:
        self.pubsub.remove_from_blacklist(ID.from_base58(peer))

    def bans(self) -> list[Ban]:
        """The bans in force now (peer, reason, until), soonest to expire first."""
        return self.guard.bans()

    async def _drain(self, subscription: ISubscriptionAPI) -> None:
        """Empty py-libp2p's 32-slot subscription buffer; the gate already queued what matters."""
        while True:
            await subscription.get()

    async def _run_mdns(self) -> None:
        port = next((int(a.value_for_protocol("tcp")) for a in self.host.get_addrs()
                     if "/tcp/" in str(a)), 4001)

        async def dial(info: PeerInfo) -> None:
            if self.guard.is_banned(info.peer_id.to_base58()):
                return
            with trio.move_on_after(self.settings.request_timeout):
                await self.host.connect(info)

        try:
            await LanDiscovery(self.host, self.swarm_id, port).run(dial)
        except Exception:  # zeroconf can fail on hosts without multicast: the node runs on without it
            log.warning("mDNS discovery stopped", exc_info=True)

    def _locate_data(self, data_hash: bytes) -> Path | None:
        path = self._data_files.get(data_hash)
        if path is None:
            try:
                path = self.ledger.get_data_chunk_source(data_hash)
            except Exception:
                log.exception("could not look up data %s", data_hash.hex())
        return path
