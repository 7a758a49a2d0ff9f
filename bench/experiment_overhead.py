"""Wall time per experiment / budget, with the split (sandbox start, imports, data + model setup, training, export,
evaluation), for the default train.py on the embedded corpus.

    python bench/experiment_overhead.py [--budget 60s] [--repeats 1] [--no-sandbox]

Prints one line per run and the mean ratio. Target: <= 1.05 at a 60 s CPU budget. Records the load average next to
every timing (the CPU may be shared). Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import Budget, builtin_dataset, default_train_py, run_experiment, sandbox_available  # noqa: E402


def sandbox_start_seconds(require: bool) -> float:
    """Median wall time of a sandboxed ``/bin/true`` (what bubblewrap + seccomp + rlimits cost per process)."""
    from trainer.runner import SandboxSpec, run_sandboxed

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(5):
            started = time.monotonic()
            run_sandboxed(["/bin/true"], SandboxSpec(workdir=Path(tmp), env={"PATH": "/usr/bin:/bin"}, wall_timeout=10),
                          require_sandbox=require)
            times.append(time.monotonic() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="60s")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args()
    budget = Budget.parse(args.budget)
    require = not args.no_sandbox
    ok, why = sandbox_available()
    print(f"sandbox available: {ok} ({why})")
    print(f"sandbox start (/bin/true): {sandbox_start_seconds(require and ok) * 1000:.0f} ms")
    dataset = builtin_dataset()
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            load = os.getloadavg()[0]
            started = time.monotonic()
            summary = run_experiment(default_train_py(), dataset, budget, work_root=Path(tmp), seed=i,
                                     require_sandbox=require and ok)
            wall = time.monotonic() - started
            split = " ".join(f"{name}={seconds:.2f}" for name, seconds in summary.phases)
            if budget.kind == "seconds":
                ratios.append(wall / budget.amount)
                ratio = f"wall/budget={wall / budget.amount:.3f}"
            else:
                ratio = f"wall={wall:.1f}s"
            print(f"run {i}: status={summary.status} val_bpb={summary.val_bpb} steps={summary.steps} {ratio} "
                  f"[{split}] sandboxed={summary.sandboxed} load1={load:.2f}->{os.getloadavg()[0]:.2f}")
    if ratios:
        print(f"mean wall/budget over {len(ratios)} run(s): {statistics.mean(ratios):.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
