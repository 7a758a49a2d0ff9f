"""Slow requests: an honest peer's sync latency while strangers hold half-sent requests open.

    .venv/bin/python bench/slow_requests.py [--rounds 20] [--held 0,4,8]

One real NodeService (the server, default settings: 8 request slots, 4 streams per peer, 10 s request timeout)
holding 100 signed results, on 127.0.0.1 in one process with an honest py-libp2p host and attacker hosts. For each
load, the attackers (one per 4 held streams: the per-peer bound) open that many /swarm-node/sync/1 streams,
announce a 100-byte request and send 10 bytes; then the honest host times ``rounds`` full sync requests (open,
ask for everything, read the answer). Median and max per load, side by side in one run. The issue measured the old
code (the slot was taken before the request was read) at 0.04 s unloaded and 7-9 s with four held requests.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from libp2p.custom_types import TProtocol  # noqa: E402

from node.net.host import build_host, parse_peer_addr  # noqa: E402
from node.net.logs import route_libp2p_logs  # noqa: E402
from node.net.streams import _HEADER, request  # noqa: E402
from node.net.sync import SYNC_PROTOCOL  # noqa: E402
from protocol import Identity, SyncRequest, encode_request  # noqa: E402
from tests.integration.hostile_net import SWARM, store_result, victim  # noqa: E402

LOOPBACK = ["/ip4/127.0.0.1/tcp/0"]


async def timed_syncs(svc, rounds: int) -> list[float]:  # type: ignore[no-untyped-def]
    host, listen = build_host(Identity.generate().private_bytes, LOOPBACK)
    out: list[float] = []
    async with host.run(listen_addrs=listen):
        peer = parse_peer_addr(svc.addrs()[0])
        await host.connect(peer)
        ask = encode_request(SyncRequest(swarm_id=SWARM, have=(), limit=1000))
        for _ in range(rounds):
            start = time.perf_counter()
            try:
                await request(host, peer.peer_id, SYNC_PROTOCOL, ask, max_response=4 << 20, timeout=30.0)
            except Exception as exc:
                print(f"  honest sync failed: {exc}")
            out.append(time.perf_counter() - start)
    return out


async def hold(svc, stack: contextlib.AsyncExitStack, streams: int) -> None:  # type: ignore[no-untyped-def]
    for first in range(0, streams, 4):
        host, listen = build_host(Identity.generate().private_bytes, LOOPBACK)
        await stack.enter_async_context(host.run(listen_addrs=listen))
        peer = parse_peer_addr(svc.addrs()[0])
        await host.connect(peer)
        for _ in range(min(4, streams - first)):
            stream = await host.new_stream(peer.peer_id, [TProtocol(SYNC_PROTOCOL)])
            await stream.write(_HEADER.pack(100) + b"x" * 10)


async def main(args: argparse.Namespace) -> None:
    route_libp2p_logs(None)
    print(f"{'held':>4} {'median ms':>10} {'max ms':>8}   (honest full sync of 100 results, {args.rounds} rounds)")
    rows: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with victim(Path(tmp) / "server") as svc:
            for _ in range(100):
                store_result(svc)
            for held in (int(x) for x in args.held.split(",")):
                async with contextlib.AsyncExitStack() as stack:
                    await hold(svc, stack, held)
                    times = await timed_syncs(svc, args.rounds)
                rows[held] = statistics.median(times)
                print(f"{held:>4} {rows[held] * 1000:>10.1f} {max(times) * 1000:>8.1f}")
                sys.stdout.flush()
    base = rows.get(0)
    if base:
        print("ratio to unloaded: " + ", ".join(f"{h} held {t / base:.2f}x" for h, t in rows.items() if h))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--held", default="0,4,8")
    trio.run(main, parser.parse_args())
