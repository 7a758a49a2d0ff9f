"""Tokens/s of the default train.py here, and its val_bpb after the default budget next to bzip2 -9, xz -9e and
zstd -19 on the same fixed validation slice (64 KiB of the embedded corpus's val split).

    python bench/train_throughput.py [--budget 60s] [--seeds 0,1,2,3,4] [--no-sandbox]

Prints one line per seed (val_bpb, steps, tokens/s, load average) and the mean and standard deviation of val_bpb.
Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import bz2
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import Budget, builtin_dataset, default_train_py, run_experiment, sandbox_available  # noqa: E402


def compressor_bpb(data: bytes) -> dict[str, str]:
    """Bits per byte of classic compressors on the slice (zstd through its binary or the zstandard module)."""
    n = len(data)
    out = {"bzip2 -9": f"{len(bz2.compress(data, 9)) * 8 / n:.3f}",
           "xz -9e": f"{len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) * 8 / n:.3f}"}
    if shutil.which("zstd"):
        packed = subprocess.run(["zstd", "-19", "-q", "-c"], input=data, capture_output=True, check=True).stdout
        out["zstd -19"] = f"{len(packed) * 8 / n:.3f}"
    else:
        try:
            import zstandard  # type: ignore[import-not-found]

            out["zstd -19"] = f"{len(zstandard.ZstdCompressor(level=19).compress(data)) * 8 / n:.3f}"
        except ImportError:
            out["zstd -19"] = "missing (no zstd binary, no zstandard module)"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="60s")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args()
    budget = Budget.parse(args.budget)
    dataset = builtin_dataset()
    ok, _ = sandbox_available()
    scores = []
    with tempfile.TemporaryDirectory() as tmp:
        val = (dataset.prepare(Path(tmp) / "cache") / "val" / "val.bin").read_bytes()
        print(f"val slice: {len(val)} bytes; " + ", ".join(f"{k}: {v} bpb" for k, v in compressor_bpb(val).items()))
        for seed in (int(s) for s in args.seeds.split(",")):
            load = os.getloadavg()[0]
            summary = run_experiment(default_train_py(), dataset, budget, work_root=Path(tmp) / "runs", seed=seed,
                                     cache_dir=Path(tmp) / "cache", require_sandbox=ok and not args.no_sandbox)
            rate = summary.tokens / summary.train_seconds if summary.train_seconds else 0.0
            print(f"seed {seed}: status={summary.status} val_bpb={summary.val_bpb} steps={summary.steps} "
                  f"tokens={summary.tokens} train_s={summary.train_seconds:.1f} tokens/s={rate:.0f} "
                  f"load1={load:.2f}->{os.getloadavg()[0]:.2f}", flush=True)
            if summary.val_bpb is not None:
                scores.append(summary.val_bpb)
    if len(scores) >= 2:
        mean, sd = statistics.mean(scores), statistics.stdev(scores)
        print(f"val_bpb over {len(scores)} seeds: mean {mean:.4f}, std {sd:.4f} ({100 * sd / mean:.2f}% of mean)")


if __name__ == "__main__":
    main()
