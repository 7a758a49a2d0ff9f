"""protocol/ throughput on this machine: sign/s, verify+decode/s, raw Ed25519 verify/s, bytes per Result.

Raw verify and the full pipeline are measured side by side, interleaved round by round, so that the ratio holds even
on a busy machine. Not a test: it prints figures and asserts nothing.

    .venv/bin/python bench/protocol_bench.py [--rounds 7] [--n 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import (
    BudgetRule,
    Identity,
    Result,
    SyncResponse,
    decode_and_verify,
    decode_request,
    encode_request,
    sign_message,
)
from protocol.canonical import unpack
from protocol.envelope import signed_bytes


def typical_result(identity: Identity, seq: int, now: float) -> Result:
    return Result(
        swarm_id=bytes(range(32)), author=identity.public_key, seq=seq, created_at=now, commit="a" * 40,
        parent="b" * 40, blob="c" * 40, metric=2.41234567, status="keep", hw_class="cpu:2t",
        hw_fingerprint="x86_64 AMD EPYC 7B13 2 threads, torch 2.13.0", budget=BudgetRule("seconds", 60),
        steps=1234, tokens=1234 * 1024, wall_seconds=61.2, peak_memory_mb=812.5,
        description="raise lr to 6e-3 and lengthen warmup to 150 steps; keeps the cosine tail at 10%",
    )


CHUNK = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=2000, help="operations per round and measure")
    args = parser.parse_args()

    me = Identity.generate()
    now = time.time()
    messages = [typical_result(me, seq, now) for seq in range(1, args.n + 1)]
    envelopes = [sign_message(me, m) for m in messages]
    swarm = messages[0].swarm_id
    key = Ed25519PublicKey.from_public_bytes(me.public_key)
    # what raw verify sees: the same bytes the pipeline verifies
    triples = []
    for raw in envelopes:
        _, _, _, body, sig = unpack(raw, max_len=1 << 20)
        triples.append((sig, signed_bytes(1, body)))

    def raw_sign(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            me.sign(triples[i][1])

    def pipeline_sign(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            sign_message(me, messages[i])

    def raw_verify(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            key.verify(*triples[i])

    def pipeline_verify(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            decode_and_verify(envelopes[i], expected_swarm=swarm, now=now)

    measures = {
        "raw Ed25519 sign": raw_sign,
        "sign_message": pipeline_sign,
        "raw Ed25519 verify": raw_verify,
        "decode_and_verify": pipeline_verify,
    }
    # interleave in slices of CHUNK ops so that a busy machine slows every measure alike
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(args.rounds):
        spent = dict.fromkeys(measures, 0.0)
        for start in range(0, args.n, CHUNK):
            for name, fn in measures.items():
                t0 = time.perf_counter()
                fn(start, min(args.n, start + CHUNK))
                spent[name] += time.perf_counter() - t0
        for name in measures:
            samples[name].append(args.n / spent[name])

    batch = SyncResponse(envelopes=tuple(envelopes[:512]), more=True)
    encoded = encode_request(batch)
    start = time.perf_counter()
    decode_request(encoded, SyncResponse)
    sync_ms = (time.perf_counter() - start) * 1000

    print(f"protocol bench: {args.rounds} rounds x {args.n} ops, one core, median (min..max) per second")
    for name, values in samples.items():
        print(f"  {name:34s} {statistics.median(values):9.0f}/s  ({min(values):.0f}..{max(values):.0f})")
    ratio = statistics.median(
        p / r for p, r in zip(samples["decode_and_verify"], samples["raw Ed25519 verify"])
    )
    sign_ratio = statistics.median(p / r for p, r in zip(samples["sign_message"], samples["raw Ed25519 sign"]))
    print(f"  verify+decode / raw verify (per round, median): {ratio:.3f}  (target >= 0.75)")
    medians = {name: statistics.median(values) for name, values in samples.items()}
    overhead = 1e6 / medians["decode_and_verify"] - 1e6 / medians["raw Ed25519 verify"]
    print(f"  pipeline cost beyond the signature check: {overhead:.0f} us per message")
    print(f"  sign_message / raw sign (per round, median):    {sign_ratio:.3f}")
    print(f"  bytes per Result envelope: {len(envelopes[0])} (body {len(triples[0][1]) - len(signed_bytes(1, b''))})")
    print(f"  SyncResponse of 512 results: {len(encoded)} bytes, decoded in {sync_ms:.1f} ms (envelopes not verified)")


if __name__ == "__main__":
    main()
