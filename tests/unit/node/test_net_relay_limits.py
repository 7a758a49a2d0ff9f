"""The relay's limits hold against a hostile peer: circuits without end, bytes without end, silent circuits.

Raw HOP messages (what a hostile node would send, bypassing its own swarm), on 127.0.0.1 in one process. After each
attack the relay still serves its own protocols and an honest peer still reaches the target.
"""

from __future__ import annotations

import contextlib
import os
from typing import AsyncIterator

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.relay.circuit_v2.pb.circuit_pb2 import HopMessage, PeerId
from libp2p.relay.circuit_v2.protocol import PROTOCOL_ID as HOP
from libp2p.relay.circuit_v2.utils import read_delimited_msg, write_delimited_msg

from node.net.host import build_host, parse_peer_addr, peer_addrs
from node.net.relay import RelayLimits, Relays

PING = TProtocol("/test/ping/1")
OK = 100


async def _pong(stream: INetStream) -> None:
    await stream.write(b"pong")
    await stream.close()


@contextlib.asynccontextmanager
async def _swarm(limits: RelayLimits) -> AsyncIterator[tuple[IHost, IHost, IHost, Relays]]:
    """A relay, a target holding a reservation on it, and an attacker connected to the relay."""
    async with contextlib.AsyncExitStack() as stack:
        hosts = []
        for _ in range(3):
            host, listen = build_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"])
            host.set_stream_handler(PING, _pong)
            await stack.enter_async_context(host.run(listen_addrs=listen))
            hosts.append(host)
        relay_host, target, attacker = hosts
        relay = Relays(relay_host, limits=limits)
        client = Relays(target, limits=RelayLimits(), named=[peer_addrs(relay_host)[0]], interval=0.2)
        nursery = await stack.enter_async_context(trio.open_nursery())
        for service in (relay, client):
            await nursery.start(service.run)
        with trio.fail_after(10):
            while not client.circuit_addrs():
                await trio.sleep(0.05)
        await attacker.connect(parse_peer_addr(peer_addrs(relay_host)[0]))
        yield relay_host, target, attacker, relay
        nursery.cancel_scope.cancel()


async def _connect(attacker: IHost, relay: IHost, target: IHost) -> tuple[INetStream, int]:
    stream = await attacker.new_stream(relay.get_id(), [HOP])
    await write_delimited_msg(stream, HopMessage(type=HopMessage.CONNECT, peer=PeerId(id=target.get_id().to_bytes())))
    with trio.fail_after(10):
        reply = await read_delimited_msg(stream, HopMessage)
    return stream, int(reply.status)


async def _relay_still_serves(relay: IHost, other: IHost) -> bytes:
    with trio.fail_after(5):
        stream = await other.new_stream(relay.get_id(), [PING])
        return bytes(await stream.read(10))


def test_circuits_without_end_are_refused_past_the_per_peer_limit() -> None:
    async def main() -> tuple[list[int], bytes, int]:
        async with _swarm(RelayLimits(circuits_per_peer=2)) as (relay_host, target, attacker, _):
            held, statuses = [], []
            for _ in range(5):
                stream, status = await _connect(attacker, relay_host, target)
                held.append(stream)
                statuses.append(status)
            served = await _relay_still_serves(relay_host, target)
            for stream in held:
                await stream.reset()
            with trio.fail_after(10):  # the slots come back once the attacker's circuits are gone
                while True:
                    _, status = await _connect(attacker, relay_host, target)
                    if status == OK:
                        break
                    await trio.sleep(0.2)
            return statuses, served, status

    statuses, served, again = trio.run(main)
    assert statuses[:2] == [OK, OK] and all(s != OK for s in statuses[2:]), statuses
    assert served == b"pong" and again == OK


def test_bytes_without_end_cut_the_circuit_at_its_byte_limit() -> None:
    async def main() -> tuple[int, bool, bytes]:
        async with _swarm(RelayLimits(circuit_bytes=256 << 10)) as (relay_host, target, attacker, _):
            stream, status = await _connect(attacker, relay_host, target)
            sent, cut = 0, False
            with trio.move_on_after(20):
                try:
                    while sent < 64 << 20:
                        await stream.write(b"\xff" * 16384)
                        sent += 16384
                except Exception:
                    cut = True
            return sent, cut, await _relay_still_serves(relay_host, target)

    sent, cut, served = trio.run(main)
    assert cut and sent < 8 << 20, f"the relay let {sent} bytes through (limit 256 KiB)"
    assert served == b"pong"


def test_a_silent_circuit_is_cut_at_its_duration_limit_and_frees_its_slot() -> None:
    async def main() -> tuple[int, int, bytes]:
        async with _swarm(RelayLimits(circuits_per_peer=1, circuit_seconds=1)) as (relay_host, target, attacker, _):
            _, first = await _connect(attacker, relay_host, target)
            _, blocked = await _connect(attacker, relay_host, target)
            with trio.fail_after(10):
                while True:
                    await trio.sleep(0.3)
                    _, status = await _connect(attacker, relay_host, target)
                    if status == OK:
                        break
            assert first == OK and blocked != OK
            return first, status, await _relay_still_serves(relay_host, target)

    first, later, served = trio.run(main)
    assert (first, later, served) == (OK, OK, b"pong")


def test_a_peer_asking_for_circuits_without_end_is_cut_off_and_disconnected() -> None:
    async def main() -> tuple[list[int], bool, bytes]:
        async with _swarm(RelayLimits(source_circuits_per_minute=3)) as (relay_host, target, attacker, relay):
            statuses = []
            for _ in range(4):
                stream, status = await _connect(attacker, relay_host, target)
                statuses.append(status)
                await stream.reset()
            with trio.fail_after(10):
                while attacker.get_id() in relay_host.get_connected_peers():
                    await trio.sleep(0.05)
            cut = relay.protocol.budget.cut_off(attacker.get_id())
            return statuses, cut, await _relay_still_serves(relay_host, target)

    statuses, cut, served = trio.run(main)
    assert statuses[:3] == [OK, OK, OK] and statuses[3] != OK, statuses
    assert cut and served == b"pong"


def test_a_peer_pushing_bytes_through_circuit_after_circuit_is_cut_off() -> None:
    async def main() -> tuple[list[int], int, bool, bytes]:
        limits = RelayLimits(circuit_bytes=64 << 10, source_bytes_per_hour=160 << 10)
        async with _swarm(limits) as (relay_host, target, attacker, relay):
            statuses = []
            for _ in range(8):
                try:
                    stream, status = await _connect(attacker, relay_host, target)
                except Exception:  # the relay hung up on it (cut off), or a reset on a loaded machine: try again
                    statuses.append(-1)
                    await trio.sleep(0.3)
                    continue
                statuses.append(status)
                if status != OK:
                    break
                with trio.move_on_after(5):
                    try:
                        for _ in range(12):  # 96 KiB: past the circuit's 64 KiB (more would only clog our own link)
                            await stream.write(b"\xee" * 8192)
                    except Exception:
                        pass  # this circuit reached its byte limit
                await trio.sleep(0.3)  # the relay charges the circuit once both its directions end
            relayed = relay.protocol.budget.used(attacker.get_id())
            cut = relay.protocol.budget.cut_off(attacker.get_id())
            return statuses, relayed, cut, await _relay_still_serves(relay_host, target)

    statuses, relayed, cut, served = trio.run(main)
    assert cut and statuses[-1] != OK and statuses.count(OK) <= 4, statuses  # 160 KiB: 3 circuits of 64 KiB at most
    assert 160 << 10 <= relayed <= (160 + 64) << 10 and served == b"pong", relayed
