"""The DHT on real sockets (three hosts in one process): the manifest record and swarm providers."""

from __future__ import annotations

import contextlib
import time

import pytest
import trio
from libp2p.tools.anyio_service import background_trio_service

from node.net.dht import SwarmDHT, manifest_key
from node.net.host import build_host, parse_peer_addr, peer_addrs
from node.net.logs import route_libp2p_logs
from protocol import BudgetRule, Identity, Manifest, sign_message, swarm_id_of

pytestmark = pytest.mark.slow


def manifest(name: str) -> bytes:
    creator = Identity.generate()
    return sign_message(creator, Manifest(
        author=creator.public_key, seq=0, created_at=time.time(), name=name, program="# p\n",
        baseline_blob="0" * 40, data_spec="{}", data_hash=b"\x01" * 32, eval_spec="e",
        budget=BudgetRule(kind="seconds", amount=60), metric_name="val_bpb", metric_direction="min"))


def test_manifest_record_is_validated_and_providers_found() -> None:
    route_libp2p_logs(None)
    envelope, other = manifest("real"), manifest("other")
    swarm = swarm_id_of(envelope)

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            nodes = []
            for _ in range(3):
                host, listen = build_host(Identity.generate().private_bytes, ["/ip4/127.0.0.1/tcp/0"])
                await stack.enter_async_context(host.run(listen_addrs=listen))
                dht = SwarmDHT(host)
                await stack.enter_async_context(background_trio_service(dht.kad))
                nodes.append((host, dht))
            (a, da), (b, db), (c, dc) = nodes
            await b.connect(parse_peer_addr(peer_addrs(a)[0]))
            await c.connect(parse_peer_addr(peer_addrs(b)[0]))  # c never connects to a itself
            for dht, peers in ((da, [b]), (db, [a, c]), (dc, [b])):
                for peer in peers:
                    await dht.add_peer(peer.get_id())

            await da.put_manifest(swarm, envelope)
            assert await dc.get_manifest(swarm) == envelope
            for bad in (b"evil", other):  # not a manifest; a real manifest of another swarm
                with pytest.raises(Exception):
                    await db.kad.put_value(manifest_key(swarm), bad)
            assert await dc.get_manifest(swarm) == envelope
            assert await dc.get_manifest(swarm_id_of(other)) is None

            assert await da.provide(swarm)
            with trio.fail_after(20):
                found = await dc.providers(swarm)
            assert [info.peer_id for info in found] == [a.get_id()]  # once, although it may be reported twice

    trio.run(main)
