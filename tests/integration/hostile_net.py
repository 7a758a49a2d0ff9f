"""In-process harness for hostile-network tests: one real ``NodeService`` (the victim) on 127.0.0.1 and raw
py-libp2p attacker hosts in the same trio run, so a py-libp2p exception that ends the node ends the test.

    async with victim(tmp_path) as svc:
        async with attacker(svc) as (host, peer):        # Noise + Mplex, already connected
            await send_rpc(host, peer, b"\\xff\\xff")     # one raw pubsub RPC frame
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import AsyncIterator

import trio
from libp2p.abc import IHost
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.utils import encode_varint_prefixed

from node.config import load_config
from node.ledger import Ledger
from node.net.host import build_host, parse_peer_addr
from node.net.links import NetSettings
from node.net.service import NodeService
from protocol import Identity
from tests.waiting import await_for

__all__ = ["SWARM", "victim", "attacker", "send_rpc", "publish_rpc", "signed_message", "store_result", "victim_is_serving"]

SWARM = bytes.fromhex("5e" * 32)
LOOPBACK = "/ip4/127.0.0.1/tcp/0"


@contextlib.asynccontextmanager
async def victim(home: Path, **overrides: object) -> AsyncIterator[NodeService]:
    """A running node with mDNS and the DHT off (``overrides`` go to its ``NetSettings``)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = load_config(env={}, overrides={"home": home, "listen": (LOOPBACK,), "mdns": False})
    identity = Identity.load_or_create(config.identity_path)
    with Ledger(config.ledger_path) as ledger:
        settings = dataclasses.replace(NetSettings.from_config(config), dht=False, **overrides)  # type: ignore[arg-type]
        svc = NodeService(config, identity, ledger, SWARM, settings=settings)
        async with svc:
            yield svc


@contextlib.asynccontextmanager
async def attacker(svc: NodeService, identity: Identity | None = None) -> AsyncIterator[tuple[IHost, ID]]:
    """A plain py-libp2p host (this project's transport choices, no pubsub), connected to ``svc``."""
    identity = identity or Identity.generate()
    host, listen = build_host(identity.private_bytes, [LOOPBACK])
    async with host.run(listen_addrs=listen):
        info = parse_peer_addr(svc.addrs()[0])
        await host.connect(info)
        yield host, info.peer_id


async def send_rpc(host: IHost, peer: ID, *frames: bytes) -> None:
    """Open a pubsub stream to ``peer`` and write each frame varint-prefixed; errors (a reset) end it quietly."""
    with trio.move_on_after(10):
        try:
            stream = await host.new_stream(peer, [TProtocol("/meshsub/1.1.0")])
            for frame in frames:
                await stream.write(encode_varint_prefixed(frame))
            await trio.sleep(0)
        except Exception:
            pass


def publish_rpc(topic: str, messages: list[rpc_pb2.Message]) -> bytes:
    """One RPC frame that subscribes to ``topic`` and publishes ``messages``."""
    rpc = rpc_pb2.RPC(subscriptions=[rpc_pb2.RPC.SubOpts(subscribe=True, topicid=topic)], publish=messages)
    return rpc.SerializeToString()


def signed_message(key_pair: KeyPair, topic: str, data: bytes) -> rpc_pb2.Message:
    """A pubsub message from ``key_pair``'s id with a valid pubsub signature (its data may still be junk)."""
    from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX

    msg = rpc_pb2.Message(from_id=ID.from_pubkey(key_pair.public_key).to_bytes(), data=data, seqno=os.urandom(8),
                          topicIDs=[topic])
    msg.signature = key_pair.private_key.sign(PUBSUB_SIGNING_PREFIX.encode() + msg.SerializeToString())
    return msg


def store_result(svc: NodeService) -> None:
    """Sign a fresh result as ``svc`` and store it in its ledger only (no gossip: peers get it by sync alone)."""
    from protocol import decode_and_verify, sign_message
    from tests.integration.nodeproc import synthetic_result

    message = dataclasses.replace(synthetic_result(svc.ledger.count(SWARM)), swarm_id=SWARM,
                                  author=svc.identity.public_key, seq=svc.ledger.next_seq(svc.identity.public_key))
    svc.ledger.add_results([decode_and_verify(sign_message(svc.identity, message), expected_swarm=SWARM)])


async def victim_is_serving(svc: NodeService, tmp_path: Path) -> None:
    """An honest node still connects to ``svc`` and syncs a fresh result from it (host and handlers alive)."""
    store_result(svc)
    want = svc.ledger.count(SWARM)
    async with victim(tmp_path / "honest") as honest:
        await honest.connect(svc.addrs()[0])
        await await_for(lambda: honest.ledger.count(SWARM) == want, timeout=15, what="the honest node synced")
        peer = ID.from_base58(honest.peer_id)
        await await_for(lambda: svc.gossipsub.peer_protocol.get(peer) == "/meshsub/1.2.0", timeout=10,
                        what="the two nodes speak GossipSub /meshsub/1.2.0")
