"""A stranger on the network attacks a running node from outside (issue 11, network side).

Each test runs a real ``NodeService`` on 127.0.0.1 and raw py-libp2p hosts in one trio run: an exception that
py-libp2p lets escape ends the node, and with it the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex

from node.net.host import key_pair_from_seed, parse_peer_addr
from protocol import Identity
from tests.integration.hostile_net import (
    LOOPBACK, SWARM, attacker, publish_rpc, send_rpc, signed_message, store_result, victim, victim_is_serving,
)
from tests.waiting import await_for

pytestmark = pytest.mark.timeout(120)


class _ClaimingKey(Ed25519PrivateKey):
    """A private key whose public half is someone else's: what a plaintext handshake lets a dialer present."""

    claimed: object = None

    def get_public_key(self):  # type: ignore[no-untyped-def]
        return self.claimed


def _plaintext_host(key_pair: KeyPair, claimed: KeyPair | None = None):  # type: ignore[no-untyped-def]
    """A host that speaks only /plaintext/2.0.0, presenting ``claimed``'s public key in the handshake."""
    return new_host(key_pair=key_pair, sec_opt={PLAINTEXT_PROTOCOL_ID: InsecureTransport(claimed or key_pair)},
                    muxer_opt={MPLEX_PROTOCOL_ID: Mplex}, listen_addrs=[])


def test_a_plaintext_dialer_claiming_an_honest_id_is_refused_and_frames_no_ban(tmp_path: Path) -> None:
    """Plaintext lets a dialer claim any public key (no proof of possession): it must never connect, so it can
    never get the honest id it claims penalised or banned."""
    honest = Identity.generate()
    key = _ClaimingKey(Ed25519PrivateKey.new().impl)
    key.claimed = key_pair_from_seed(honest.private_bytes).public_key
    claimed = KeyPair(key, key.claimed)  # type: ignore[arg-type]
    own = key_pair_from_seed(Identity.generate().private_bytes)

    async def main() -> None:
        async with victim(tmp_path / "v") as svc:
            host = _plaintext_host(own, claimed)
            async with host.run(listen_addrs=[]):
                info = parse_peer_addr(svc.addrs()[0])
                try:
                    with trio.fail_after(10):
                        await host.connect(info)
                except Exception:
                    pass  # refused: what must happen
                else:  # connected (the old code): three junk messages, validly signed by the dialer's own key
                    topic = svc.topics.results
                    junk = [signed_message(own, topic, b"\xc1junk%d" % i) for i in range(3)]
                    await send_rpc(host, info.peer_id, publish_rpc(topic, junk))
                    with trio.move_on_after(5):
                        while not svc.book.is_blacklisted(honest.peer_id):
                            await trio.sleep(0.05)
                assert honest.peer_id not in svc.peers(), "a plaintext-only dialer connected"
            assert svc.book.invalid_count(honest.peer_id) == 0
            assert not svc.book.is_blacklisted(honest.peer_id)
            assert svc.ledger.bans() == []

    trio.run(main)


def test_the_node_never_dials_out_in_plaintext(tmp_path: Path) -> None:
    async def main() -> None:
        stranger = Identity.generate()
        host = _plaintext_host(key_pair_from_seed(stranger.private_bytes))
        async with host.run(listen_addrs=[__import__("multiaddr").Multiaddr(LOOPBACK)]):
            addr = f"{host.get_addrs()[0]}"
            addr = addr if "/p2p/" in addr else f"{addr}/p2p/{stranger.peer_id}"
            async with victim(tmp_path / "v", request_timeout=3.0) as svc:
                with pytest.raises(Exception):
                    await svc.connect(addr)
                assert stranger.peer_id not in svc.peers()

    trio.run(main)


def test_one_rpc_frame_of_invalid_protobuf_is_counted_and_the_node_lives(tmp_path: Path) -> None:
    async def main() -> None:
        async with victim(tmp_path / "v") as svc:
            async with attacker(svc) as (host, peer):
                rogue = host.get_id().to_base58()
                await send_rpc(host, peer, b"\xff\xff\xff\xff\x0f")
                await await_for(lambda: svc.book.invalid_count(rogue) >= 1, timeout=10,
                                what="the malformed frame counted against its sender")
            await victim_is_serving(svc, tmp_path)

    trio.run(main)


def test_a_message_with_no_embedded_key_and_a_garbage_key_is_counted_and_the_node_lives(tmp_path: Path) -> None:
    async def main() -> None:
        async with victim(tmp_path / "v") as svc:
            async with attacker(svc) as (host, peer):
                rogue = host.get_id().to_base58()
                topic = svc.topics.results
                sha256_id = b"\x12\x20" + os.urandom(32)  # a peer id that is a hash: no key inside it
                poison = rpc_pb2.Message(from_id=sha256_id, data=b"x", seqno=os.urandom(8), topicIDs=[topic],
                                         signature=os.urandom(64), key=b"garbage")
                await send_rpc(host, peer, publish_rpc(topic, [poison]))
                await await_for(lambda: svc.book.invalid_count(rogue) >= 1, timeout=10,
                                what="the poison message counted against its forwarder")
            await victim_is_serving(svc, tmp_path)

    trio.run(main)


def test_ten_thousand_randomly_signed_messages_are_counted_against_the_sender(tmp_path: Path) -> None:
    async def main() -> None:
        async with victim(tmp_path / "v") as svc:
            async with attacker(svc) as (host, peer):
                rogue = host.get_id().to_base58()
                topic = svc.topics.results
                me = host.get_id().to_bytes()
                batch = [rpc_pb2.Message(from_id=me, data=os.urandom(64), seqno=os.urandom(8), topicIDs=[topic],
                                         signature=os.urandom(64)) for _ in range(10_000)]
                frames = [publish_rpc(topic, batch[i:i + 500]) for i in range(0, len(batch), 500)]
                await send_rpc(host, peer, *frames)
                await await_for(lambda: svc.book.is_blacklisted(rogue), timeout=20,
                                what="the flood of bad signatures got its sender banned")
                assert svc.book.invalid_count(rogue) >= svc.settings.max_invalid
            await victim_is_serving(svc, tmp_path)

    trio.run(main)


def test_a_two_mib_gossip_message_is_counted_against_the_sender(tmp_path: Path) -> None:
    async def main() -> None:
        async with victim(tmp_path / "v") as svc:
            async with attacker(svc) as (host, peer):
                rogue = host.get_id().to_base58()
                topic = svc.topics.results
                big = rpc_pb2.Message(from_id=host.get_id().to_bytes(), data=b"\0" * (2 << 20),
                                      seqno=os.urandom(8), topicIDs=[topic], signature=os.urandom(64))
                await send_rpc(host, peer, publish_rpc(topic, [big]))
                await await_for(lambda: svc.book.invalid_count(rogue) >= 1, timeout=10,
                                what="the oversized message counted against its sender")
            await victim_is_serving(svc, tmp_path)

    trio.run(main)


def test_four_half_sent_sync_requests_do_not_slow_an_honest_peer(tmp_path: Path) -> None:
    """Slow requests are timed out per stream and hold no shared slot: an honest sync is served at once."""
    import contextlib

    from libp2p.custom_types import TProtocol

    from node.net.streams import _HEADER
    from node.net.sync import SYNC_PROTOCOL
    async def main() -> None:
        async with victim(tmp_path / "v", max_concurrent_requests=4) as svc, contextlib.AsyncExitStack() as stack:
            store_result(svc)  # in the ledger only: the honest peer can get it by sync alone
            for _ in range(2):  # two strangers, each holding four half-sent requests (more than all the slots)
                host, peer = await stack.enter_async_context(attacker(svc))
                for _ in range(4):
                    stream = await host.new_stream(peer, [TProtocol(SYNC_PROTOCOL)])
                    await stream.write(_HEADER.pack(100) + b"x" * 10)  # announces 100 bytes, sends 10
            async with victim(tmp_path / "honest") as honest:
                await honest.connect(svc.addrs()[0])
                # request_timeout is 10 s: a sync that waits behind the slow requests misses this deadline
                await await_for(lambda: honest.ledger.count(SWARM) == 1, timeout=4,
                                what="the honest peer synced while slow requests are held open")

    trio.run(main)


def test_a_stream_handler_that_raises_is_charged_to_its_peer_and_the_host_lives(tmp_path: Path) -> None:
    """The guard around every inbound stream (node.net.host.harden_stream_handlers), on two real hosts."""
    from libp2p.custom_types import TProtocol

    from node.net.host import build_host

    blamed: list[tuple[str, str]] = []

    async def broken(stream: object) -> None:
        raise ValueError("a bug in a protocol handler")

    async def main() -> None:
        server, listen = build_host(Identity.generate().private_bytes, [LOOPBACK],
                                    blame=lambda peer, why: blamed.append((peer, why)))
        server.set_stream_handler(TProtocol("/test/broken/1"), broken)
        client, client_listen = build_host(Identity.generate().private_bytes, [LOOPBACK])
        async with server.run(listen_addrs=listen), client.run(listen_addrs=client_listen):
            addr = f"{server.get_addrs()[0]}/p2p/{server.get_id().to_base58()}"
            await client.connect(parse_peer_addr(addr))
            for n in (1, 2):
                try:
                    stream = await client.new_stream(server.get_id(), [TProtocol("/test/broken/1")])
                    await stream.write(b"hello")
                except Exception:
                    pass  # the server may have reset it already
                await await_for(lambda: len(blamed) == n, timeout=10, what=f"raising stream {n} charged")
            assert server.get_network().connections  # still up, still connected
        assert {peer for peer, _ in blamed} == {client.get_id().to_base58()}
        assert "ValueError" in blamed[0][1]

    trio.run(main)


@pytest.mark.parametrize("muxer", ["yamux", "mplex"])
def test_garbage_under_the_muxer_does_not_end_the_node(tmp_path: Path, muxer: str) -> None:
    """Authenticated by Noise, then junk where muxer frames belong: the node lives and serves others."""
    import node.net.host as host_module

    async def main() -> None:
        async with victim(tmp_path / "v") as svc:
            saved = dict(host_module.MUXERS)
            host_module.MUXERS = {k: v for k, v in saved.items() if muxer in k}
            try:
                async with attacker(svc) as (host, peer):
                    conn = host.get_network().connections[peer]
                    conn = conn[0] if isinstance(conn, list) else conn
                    # a new-stream frame (flag 0) on stream 9 whose name is not UTF-8, then noise
                    await conn.muxed_conn.secured_conn.write(bytes([9 << 3 | 0, 2]) + b"\xfd\xfe" + os.urandom(64))
                    await victim_is_serving(svc, tmp_path / "during")
                    if muxer == "mplex":
                        assert svc.book.invalid_count(host.get_id().to_base58()) >= 1
            finally:
                host_module.MUXERS = saved
            await victim_is_serving(svc, tmp_path)

    trio.run(main)


def test_a_ban_in_the_ledger_holds_after_a_restart_until_it_expires(tmp_path: Path) -> None:
    import time

    from libp2p.peer.id import ID as PeerID

    from node.ledger import Ledger

    rogue, old = Identity.generate().peer_id, Identity.generate().peer_id
    home = tmp_path / "v"
    home.mkdir(mode=0o700)
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.ban_peer(rogue, "3 invalid messages, the last: junk", time.time() + 600)
        ledger.ban_peer(old, "long ago", time.time() - 1)

    async def main() -> None:
        async with victim(home) as svc:
            assert [(b.peer, b.reason) for b in svc.bans()] == [(rogue, "3 invalid messages, the last: junk")]
            assert svc.pubsub.is_peer_blacklisted(PeerID.from_base58(rogue))
            assert not svc.book.is_blacklisted(old)

    trio.run(main)
