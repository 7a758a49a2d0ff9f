"""Circuit relay v2 on py-libp2p, on 127.0.0.1 in one process: the Mplex full-duplex fix, reserving, dialling.

The NAT namespace test (tests/integration/test_nat_relay.py) runs the same through real routers.
"""

from __future__ import annotations

import contextlib
import os
from typing import AsyncIterator

import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.stream_muxer.mplex.mplex_stream import MplexStream
from libp2p.tools.anyio_service import background_trio_service

from node.errors import NetworkError
from node.net.duplex import DuplexLock, make_mplex_full_duplex
from node.net.host import build_host, parse_peer_addr, peer_addrs
from node.net.relay import RelayLimits, Relays, is_circuit, public_ip

ECHO = TProtocol("/test/echo/1")
TALK_FIRST = TProtocol("/test/talk-first/1")


async def _echo(stream: INetStream) -> None:
    data = await stream.read(100)
    await stream.write(b"echo:" + data)
    await stream.close()


async def _talk_first(stream: INetStream) -> None:
    """Wait to read in one task and write in another: full duplex on one stream."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stream.read, 100)
        await trio.sleep(0.05)  # the read is pending now
        await stream.write(b"hello while you read")
        nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def _hosts(n: int) -> AsyncIterator[list[IHost]]:
    async with contextlib.AsyncExitStack() as stack:
        hosts = []
        for _ in range(n):
            host, listen = build_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"])
            host.set_stream_handler(ECHO, _echo)
            host.set_stream_handler(TALK_FIRST, _talk_first)
            await stack.enter_async_context(host.run(listen_addrs=listen))
            hosts.append(host)
        yield hosts


def test_a_write_goes_out_while_a_read_on_the_same_stream_waits() -> None:
    async def main() -> bytes:
        async with _hosts(2) as (a, b):
            await a.connect(parse_peer_addr(peer_addrs(b)[0]))
            stream = await a.new_stream(b.get_id(), [TALK_FIRST])
            with trio.fail_after(5):  # py-libp2p's own lock held the write until the read returned: forever
                return bytes(await stream.read(100))

    assert trio.run(main) == b"hello while you read"


def test_the_duplex_patch_is_idempotent_and_locks_each_half_on_its_own() -> None:
    make_mplex_full_duplex()
    make_mplex_full_duplex()
    assert getattr(MplexStream, "_swarm_node_duplex", False)

    async def main() -> None:
        lock = DuplexLock()
        async with lock.read_lock():
            with trio.fail_after(1):
                async with lock.write_lock():
                    pass

    trio.run(main)


def test_a_node_reserves_on_a_named_relay_and_a_third_reaches_it_through_the_circuit() -> None:
    async def main() -> tuple[list[str], bytes]:
        async with _hosts(3) as (relay_host, a, b):
            relay_addr = peer_addrs(relay_host)[0]
            relay = Relays(relay_host, limits=RelayLimits())
            client = Relays(a, limits=RelayLimits(), named=[relay_addr], interval=0.2)
            dialer = Relays(b, limits=RelayLimits())
            async with trio.open_nursery() as nursery:
                for service in (relay, client, dialer):
                    await nursery.start(service.run)
                with trio.fail_after(10):
                    while not client.circuit_addrs():
                        await trio.sleep(0.05)
                circuit = client.circuit_addrs()
                assert relay.relay_count() == 1
                assert await dialer.dial(circuit[0]) == a.get_id().to_base58()
                stream = await b.new_stream(a.get_id(), [ECHO])
                await stream.write(b"hi")
                with trio.fail_after(5):
                    reply = bytes(await stream.read(100))
                nursery.cancel_scope.cancel()
            return circuit, reply

    circuit, reply = trio.run(main)
    assert circuit[0].endswith("/p2p-circuit/p2p/" + circuit[0].rsplit("/", 1)[-1]) and is_circuit(circuit[0])
    assert reply == b"echo:hi"


def test_dialling_a_peer_with_no_reservation_fails_with_a_clear_error() -> None:
    async def main() -> None:
        async with _hosts(3) as (relay_host, a, b):
            relay = Relays(relay_host, limits=RelayLimits())
            dialer = Relays(b, limits=RelayLimits(), dial_timeout=5)
            async with trio.open_nursery() as nursery:
                for service in (relay, dialer):
                    await nursery.start(service.run)
                with pytest.raises(NetworkError, match="through relay"):
                    await dialer.dial(f"{peer_addrs(relay_host)[0]}/p2p-circuit/p2p/{a.get_id().to_base58()}")
                with pytest.raises(NetworkError, match="not a circuit address"):
                    await dialer.dial("/p2p-circuit/p2p/nonsense")
                nursery.cancel_scope.cancel()

    trio.run(main)


def test_public_ip_tells_public_from_private_addresses() -> None:
    assert public_ip("/ip4/198.51.100.10/tcp/4001") == "198.51.100.10"
    for private in ("/ip4/10.0.0.2/tcp/1", "/ip4/192.168.1.5/tcp/1", "/ip4/127.0.0.1/tcp/1", "/ip4/0.0.0.0/tcp/1",
                    "/ip4/172.16.3.4/tcp/1", "not a multiaddr"):
        assert public_ip(private) is None, private


def test_a_join_string_with_a_circuit_address_parses_and_names_the_peer_behind_the_relay() -> None:
    from node.config import load_config
    from node.joinstring import format_join, parse_join

    relay = "12D3KooWQXX6c1L3rYvZK5acwBDVtX8k4xHnG3NpaLd4W8m9Ji73"
    home = "12D3KooWAbM5LvpnLgc7JbUu5XWXLyFVbGkRDvTeCshY9hVKnzu1"
    addr = f"/ip4/198.51.100.10/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{home}"
    join = parse_join(format_join(b"\x01" * 32, [addr]))
    assert join.peers == (addr,) and is_circuit(addr)
    assert parse_peer_addr(addr).peer_id.to_base58() == home
    assert load_config(env={}, overrides={"bootstrap": join.peers}).bootstrap == (addr,)
