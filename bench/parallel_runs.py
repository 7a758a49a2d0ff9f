"""A node's training throughput with 1 vs 2 (or more) one-thread runs in flight, as the ``parallel`` setting runs them.

The default train.py under a CPU budget, ``--runs`` runs one after another (parallel 1), then the same runs with
``--parallel`` in flight at once (coordinator.runs.run_wave's thread pool: each run its own sandbox, one thread, its
own CPU budget). Prints, side by side: the node's steps per wall-second (every step of every run over the wall time of
the whole batch, start-up and scoring included), steps per CPU-second of each run, and val_bpb, with the ratio.

    nice -n 10 python bench/parallel_runs.py --budget 10s --runs 4 --parallel 2

On a machine shared with other work the ratio also counts the larger share of the machine that more runnable
processes get: the load average is printed beside it. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import Budget, RunSummary, builtin_dataset, default_train_py, run_experiment  # noqa: E402
from trainer.hardware import cpu_threads  # noqa: E402


def batch(runs: int, parallel: int, budget: Budget, root: Path) -> tuple[float, list[RunSummary]]:
    dataset = builtin_dataset()

    def one(seed: int) -> RunSummary:
        return run_experiment(default_train_py(), dataset, budget, work_root=root / "runs", seed=seed,
                              cache_dir=root / "cache", device="cpu")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        summaries = list(pool.map(one, range(runs)))
    return time.monotonic() - started, summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="10s")
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    budget = Budget.parse(args.budget)
    print(f"parallel runs: default train.py, budget {budget} (CPU), {args.runs} runs at 1 and at {args.parallel} in "
          f"flight; {cpu_threads()} cores, load avg {os.getloadavg()[0]:.1f}", flush=True)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="swarm-parallel-") as tmp:
        root = Path(tmp)
        builtin_dataset().prepare(root / "cache")
        for parallel in (1, args.parallel):
            load = os.getloadavg()[0]
            wall, summaries = batch(args.runs, parallel, budget, root)
            ok = [s for s in summaries if s.status == "ok"]
            steps = sum(s.steps for s in ok)
            per_cpu = [s.steps / s.train_compute for s in ok if s.train_compute > 0]
            bpb = [s.val_bpb for s in ok if s.val_bpb is not None]
            figures[parallel] = steps / wall
            print(f"  {parallel} in flight: {steps} steps in {wall:6.1f} s = {steps / wall:5.2f} steps/s of the node; "
                  f"steps per CPU-s of a run {statistics.fmean(per_cpu) if per_cpu else 0:5.1f}; val_bpb "
                  f"{statistics.fmean(bpb) if bpb else float('nan'):.4f}; {len(ok)}/{len(summaries)} ok; "
                  f"load avg {load:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    print(f"ratio {args.parallel} vs 1 in flight: {figures[args.parallel] / figures[1]:.2f}x steps/s of the node")


if __name__ == "__main__":
    main()
