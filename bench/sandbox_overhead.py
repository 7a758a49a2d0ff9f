"""What the sandbox adds to starting a command: `python -c pass` and `python -c "import torch"`, plain vs sandboxed.

Runs each pair interleaved (plain, sandboxed, plain, ...) so that load and the page cache hit both alike, and prints
medians, the added milliseconds and the ratio. Usage: ``python bench/sandbox_overhead.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trainer.sandbox import SandboxSpec, run_sandboxed, sandbox_available

COMMANDS = {"python -c pass": "pass", "python -c 'import torch'": "import torch"}


def plain(code: str, workdir: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=workdir, check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin"})
    return time.perf_counter() - start


def sandboxed(code: str, workdir: Path) -> float:
    start = time.perf_counter()
    result = run_sandboxed([sys.executable, "-c", code], SandboxSpec(workdir=workdir, wall_timeout=120))
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"sandboxed run failed: {result.output_tail}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    ok, reason = sandbox_available()
    print(f"sandbox: {reason}")
    if not ok:
        raise SystemExit(1)
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        workdir = Path(tmp)
        for label, code in COMMANDS.items():
            plain(code, workdir), sandboxed(code, workdir)  # warm the page cache for both
            a: list[float] = []
            b: list[float] = []
            for _ in range(args.repeats):
                a.append(plain(code, workdir))
                b.append(sandboxed(code, workdir))
            ma, mb = statistics.median(a), statistics.median(b)
            print(f"{label:28s} plain {ma * 1000:7.1f} ms   sandboxed {mb * 1000:7.1f} ms   "
                  f"+{(mb - ma) * 1000:6.1f} ms   x{mb / ma:.3f}   (median of {args.repeats}, interleaved)")


if __name__ == "__main__":
    main()
