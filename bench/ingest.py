"""Ingest: accepted results per second that one node validates and stores, next to validation alone and storage alone.

Usage: ``python bench/ingest.py [--n 10000] [--authors 20] [--batch 1 10 100 500]``. Prints figures; asserts nothing.

Three measurements on the same pre-signed envelopes, side by side in one run:
- validate: ``protocol.decode_and_verify`` (with the expected swarm), nothing stored;
- store:    ``Ledger.add_results`` of already verified results, one transaction per batch;
- both:     validate a batch, then store it (what a node does with gossip and sync pages).
It also times the sync-side reads on the full ledger: ``seq_vector`` and one ``results_since`` page.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

from node.ledger import Ledger
from protocol import BudgetRule, Identity, Result, Verified, decode_and_verify, sign_message

SWARM = bytes(range(32))


def make_envelopes(n: int, authors: int) -> list[bytes]:
    ids = [Identity.from_private_bytes(os.urandom(32)) for _ in range(authors)]
    now = time.time()
    out = []
    for i in range(n):
        me = ids[i % authors]
        seq = i // authors + 1
        out.append(sign_message(me, Result(
            swarm_id=SWARM, author=me.public_key, seq=seq, created_at=now, commit=f"{i:040x}", parent=f"{i + 1:040x}",
            blob=f"{i:040x}", metric=2.4 + (i % 100) / 1000, status="keep" if i % 7 == 0 else "discard",
            hw_class="cpu:2t", hw_fingerprint="cpu:2t Intel Xeon 2 threads", budget=BudgetRule("seconds", 60),
            steps=1234, tokens=1_263_616, wall_seconds=61.2, peak_memory_mb=412.5,
            description="raise LR to 5e-3 and widen MLP to 4x; cosine to 10%",
        )))
    return out


def validate(raws: list[bytes]) -> list[Verified]:
    return [decode_and_verify(raw, expected_swarm=SWARM) for raw in raws]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--authors", type=int, default=20)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10, 100, 500])
    args = parser.parse_args()
    n = args.n

    t = time.perf_counter()
    raws = make_envelopes(n, args.authors)
    print(f"signed {n} results from {args.authors} authors in {time.perf_counter() - t:.2f} s "
          f"({len(raws[0])} bytes each)")

    verified: list[Verified] = []
    t_validate = timed(lambda: verified.extend(validate(raws)))
    print(f"validate only            : {n / t_validate:8.0f} results/s")

    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batch:
            path = Path(tmp) / f"store-{batch}.sqlite"
            with Ledger(path) as ledger:
                def store() -> None:
                    for i in range(0, n, batch):
                        ledger.add_results(verified[i:i + batch])
                t_store = timed(store)
                assert ledger.count() == n
            with Ledger(Path(tmp) / f"both-{batch}.sqlite") as ledger:
                def both() -> None:
                    for i in range(0, n, batch):
                        chunk = [decode_and_verify(r, expected_swarm=SWARM) for r in raws[i:i + batch]]
                        ledger.add_results(chunk)
                t_both = timed(both)
                assert ledger.count() == n
            print(f"batch {batch:4d}: store only {n / t_store:8.0f} results/s   validate+store {n / t_both:8.0f} "
                  f"results/s   (validate+store / validate only = {t_validate / t_both:.2f})")

        with Ledger(Path(tmp) / f"store-{args.batch[-1]}.sqlite") as ledger:
            dup = timed(lambda: ledger.add_results(verified[:500]))
            reps = 50
            t_vec = timed(lambda: [ledger.seq_vector(SWARM) for _ in range(reps)]) / reps
            vector = ledger.seq_vector(SWARM)
            half = {a: s // 2 for a, s in vector.items()}
            t_page = timed(lambda: [ledger.results_since(SWARM, half, 500) for _ in range(10)]) / 10
            t_page_all = timed(lambda: ledger.results_since(SWARM, {}, n))
            print(f"re-adding 500 duplicates : {dup * 1000:.1f} ms (all refused)")
            print(f"seq_vector on {n} rows   : {t_vec * 1000:.2f} ms ({len(vector)} authors)")
            print(f"results_since 500 of {n}: {t_page * 1000:.2f} ms; all {n}: {t_page_all * 1000:.1f} ms")
            print(f"ledger file              : {os.path.getsize(ledger.path) / 1e6:.1f} MB "
                  f"(+ WAL {os.path.getsize(str(ledger.path) + '-wal') / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
