"""Catch-up: how long a fresh node takes to sync N results from one peer, next to raw ingest.

    .venv/bin/python bench/catchup.py [--results 10000] [--authors 20]

Two real NodeServices in one process on 127.0.0.1 (real TCP, Noise, Mplex, SQLite files). The first
holds N signed results; the second starts empty, connects, and pulls them over /swarm-node/sync/1
(verifying every signature, storing in batches). Printed next to it, measured in the same run: the
ingest rate of verify + store without any network (the ceiling), and signing speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import trio

from node.config import load_config
from node.ledger import Ledger
from node.net.links import NetSettings
from node.net.logs import route_libp2p_logs
from node.net.service import NodeService
from protocol import BudgetRule, Identity, Result, decode_and_verify, git_blob_hash, sign_message

SWARM = bytes.fromhex("c0" * 32)


def make_envelopes(n: int, authors: int) -> list[bytes]:
    ids = [Identity.generate() for _ in range(authors)]
    out = []
    now = time.time()
    for i in range(n):
        me = ids[i % authors]
        out.append(sign_message(me, Result(
            swarm_id=SWARM, author=me.public_key, seq=i // authors + 1, created_at=now, commit="", parent="",
            blob=git_blob_hash(b"%d" % i), metric=3.0, status="discard", hw_class="cpu:2t", hw_fingerprint="bench",
            budget=BudgetRule(kind="seconds", amount=60), steps=100, tokens=12800, wall_seconds=60.0,
            peak_memory_mb=300.0, description=f"bench result {i} with a description of typical length")))
    return out


def settings() -> NetSettings:
    return NetSettings(listen=("/ip4/127.0.0.1/tcp/0",), mdns=False, dht=False, sync_interval=3600)


async def catch_up(root: Path, envelopes: list[bytes]) -> tuple[float, float]:
    config = load_config(env={}, overrides={"home": root, "mdns": False})
    with Ledger(root / "full.sqlite") as full, Ledger(root / "empty.sqlite") as empty:
        full.add_results([decode_and_verify(raw) for raw in envelopes])
        a_id, b_id = Identity.generate(), Identity.generate()
        async with NodeService(config, a_id, full, SWARM, settings=settings()) as a, \
                NodeService(config, b_id, empty, SWARM, settings=settings()) as b:
            start = time.perf_counter()
            await b.connect(a.addrs()[0])
            connected = time.perf_counter() - start
            while empty.count(SWARM) < len(envelopes):
                await trio.sleep(0.01)
            return time.perf_counter() - start, connected


def ingest(root: Path, envelopes: list[bytes]) -> float:
    """verify + store in batches of 512 (what sync does), no network: results per second."""
    with Ledger(root / "ingest.sqlite") as ledger:
        start = time.perf_counter()
        for i in range(0, len(envelopes), 512):
            ledger.add_results([decode_and_verify(raw, expected_swarm=SWARM) for raw in envelopes[i:i + 512]])
        return len(envelopes) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--authors", type=int, default=20)
    args = parser.parse_args()
    route_libp2p_logs(None)
    start = time.perf_counter()
    envelopes = make_envelopes(args.results, args.authors)
    sign_rate = args.results / (time.perf_counter() - start)
    size = sum(map(len, envelopes)) / len(envelopes)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rate = ingest(root, envelopes)
        took, connected = trio.run(catch_up, root, envelopes)
    print(f"results: {args.results} from {args.authors} authors, {size:.0f} bytes each on average")
    print(f"sign (to build the fixture):        {sign_rate:8.0f} results/s")
    print(f"ingest, no network (verify+store):  {rate:8.0f} results/s   -> {args.results / rate:6.2f} s for all")
    print(f"catch-up over sync from one peer:   {args.results / took:8.0f} results/s   -> {took:6.2f} s for all "
          f"(connect {connected * 1000:.0f} ms)")
    print(f"catch-up / ingest ceiling:          {took / (args.results / rate):8.2f}x")


if __name__ == "__main__":
    main()
