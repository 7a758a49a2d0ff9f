"""Does the CPU clock miss CPU under contention, or do steps per CPU-second really change? One run, three clocks.

The tiny train.py of ``tests/integration/test_budget_clock.py`` under a CPU budget, run in rounds (alone, beside two
busy loops, beside two torch loads: the default train.py's own loop, one thread each; the order rotates each round), and
for every run the three views of the same tree's CPU read side by side:

- ``cgroup``: the run's own cgroup (``cpuacct.usage`` / ``cpu.stat``), the clock that decides;
- ``proc``: the high-water mark of ``utime+stime+cutime+cstime`` summed over the tree's live pids (``/proc``), sampled
  with the supervisor (0.1 s);
- ``rusage``: the reaped child's ``ru_utime + ru_stime`` (its own time and its waited-for descendants').

and the steps per CPU-second of the training window alone (from the first batch to the last one served, both read on
the cgroup clock at the batch server: export and exit left out), with the max number of threads seen in the tree.

    nice -n 10 python bench/clock_probe.py --rounds 3

Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import trainer.limits as limits  # noqa: E402
import trainer.runner as runner  # noqa: E402
from trainer import Budget, builtin_dataset, default_train_py, run_experiment  # noqa: E402
from trainer.cpuclock import TreeClock, proc_cpu_seconds  # noqa: E402

from noise import start_loads, stop_loads  # noqa: E402

TINY = {"N_LAYER": "1", "N_EMBD": "32", "N_HEAD": "2", "WARMUP_STEPS": "5", "LOG_EVERY": "1000"}


def tiny_train_py() -> str:
    import re

    source = default_train_py()
    for name, value in TINY.items():
        source = re.sub(rf"^{name} = \S+", f"{name} = {value}", source, flags=re.MULTILINE)
    return source


class ProbeClock(TreeClock):
    """The runner's clock, also keeping the /proc sum, the rusage, the threads, and the clock at each batch."""

    last: "ProbeClock | None" = None

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.proc_peak = 0.0
        self.rusage = 0.0
        self.threads = 0
        self.batch_reads: list[float] = []
        self.raw_startup = 0.0
        ProbeClock.last = self

    def mark_start(self) -> float:
        if self._start is None:
            self.raw_startup = self.used()
        return super().mark_start()

    def sample(self, pids: Sequence[int]) -> float:
        self.proc_peak = max(self.proc_peak, proc_cpu_seconds(self.pids() or pids))
        count = 0
        for pid in self.pids() or pids:
            try:
                count += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
        self.threads = max(self.threads, count)
        return super().sample(pids)

    def budget_used(self) -> float:
        value = super().budget_used()
        if threading.current_thread() is not threading.main_thread():  # the batch server's reads, not the supervisor's
            self.batch_reads.append(value)
        return value

    def finished(self, rusage_seconds: float) -> None:
        self.rusage = rusage_seconds
        super().finished(rusage_seconds)


def hogs(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", default="3s")
    parser.add_argument("--startup-cap", type=float, default=4.0,
                        help="CPU-s of start-up not charged (4: the hostile tests'; 10: the default)")
    parser.add_argument("--conditions", default="alone,2 busy loops,2 torch loads")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM too stops the loads (finally blocks run)
    limits.STARTUP_CPU_CAP = args.startup_cap
    runner.TreeClock = ProbeClock  # type: ignore[misc]
    dataset = builtin_dataset()
    source = tiny_train_py()
    rows: list[dict[str, Any]] = []
    conditions = args.conditions.split(",")
    print(f"clock probe: tiny train.py, budget {args.budget}, {args.rounds} rounds; load avg {os.getloadavg()[0]:.1f}")
    print(f"{'condition':14s} {'steps':>5s} {'cgroup':>7s} {'proc':>7s} {'rusage':>7s} {'startup':>7s} "
          f"{'raw-st':>7s} {'window':>7s} {'steps/cpu-s':>11s} {'thr':>3s} {'wall':>5s} {'load':>5s}")
    with tempfile.TemporaryDirectory(prefix="swarm-probe-") as tmp:
        root = Path(tmp)
        train_bin = dataset.prepare(root / "cache") / "train" / "train.bin"
        for rnd in range(args.rounds + 1):
            n = len(conditions)
            order = ["cold start (alone)"] if rnd == 0 else conditions[rnd % n:] + conditions[:rnd % n]
            for cond in order:
                procs = (hogs(2) if cond == "2 busy loops" else
                         start_loads(2, root / "load", train_bin) if cond == "2 torch loads" else [])
                try:
                    if procs:
                        time.sleep(3.0)  # past the loads' imports
                    s = run_experiment(source, dataset, Budget.parse(args.budget), work_root=root / "runs",
                                       cache_dir=root / "cache", device="cpu")
                finally:
                    stop_loads(procs)
                clock = ProbeClock.last
                assert clock is not None
                window = max((r for r in clock.batch_reads if r >= 0), default=0.0)
                row = {"cond": cond, "status": s.status, "steps": s.steps, "cgroup": s.cpu_seconds,
                       "proc": clock.proc_peak, "rusage": clock.rusage, "startup": s.startup_cpu_seconds, "raw_startup": clock.raw_startup,
                       "window": window, "rate": s.steps / window if window else 0.0, "threads": clock.threads,
                       "wall": s.wall_seconds, "load": os.getloadavg()[0]}
                rows.append(row)
                print(f"{cond:14s} {s.steps:5d} {s.cpu_seconds:7.2f} {clock.proc_peak:7.2f} {clock.rusage:7.2f} "
                      f"{s.startup_cpu_seconds:7.2f} {clock.raw_startup:7.2f} {window:7.2f} {row['rate']:11.1f} {clock.threads:3d} "
                      f"{s.wall_seconds:5.1f} {row['load']:5.1f}  {s.status}", flush=True)
    print("\nmeans:")
    for cond in conditions:
        mine = [r for r in rows if r["cond"] == cond and r["status"] == "ok"]
        if not mine:
            continue
        mean = {k: statistics.fmean(r[k] for r in mine) for k in ("steps", "cgroup", "proc", "rusage", "raw_startup", "window", "rate")}
        print(f"{cond:14s} steps {mean['steps']:6.1f}  cgroup {mean['cgroup']:6.2f}  proc {mean['proc']:6.2f}  "
              f"rusage {mean['rusage']:6.2f}  raw start-up {mean['raw_startup']:5.2f}  window {mean['window']:5.2f}  steps/cpu-s {mean['rate']:5.1f}")


if __name__ == "__main__":
    main()
