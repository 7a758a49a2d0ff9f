"""How much contention moves one run's score: the default train.py, N runs (seeds 0..N-1) each beside 0, 1 and 2
competing CPU loads (other training processes: the default train.py's own loop, one thread each), under the WALL budget
(today's: wall seconds, every core) and the CPU budget (CPU-seconds of one thread, read outside train.py), side by side
in one run: for each seed and load the two clocks run back to back.

    nice -n 10 python bench/noise.py --quick            # ~10 minutes: 10s budget, 3 seeds
    nice -n 10 python bench/noise.py --budget 60s --runs 5

Prints, per clock and load: steps and val_bpb mean and std; per clock: the paired std (std of one seed's val_bpb across
loads, pooled over seeds: what a paired comparison of two train.py files at the same seed still sees) and the std with
2 competing loads (across seeds). Targets: val_bpb std <= 0.5% of the mean with 2 loads, paired std <= 0.3%.
Writes every figure to ``bench/results/noise.json`` (``--out``), which ``bench/swarm_sim.py`` can read.
Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer import (Budget, builtin_dataset, default_train_py, hardware_fingerprint,  # noqa: E402
                     run_experiment, sandbox_available)
from trainer.hardware import cpu_threads  # noqa: E402

TARGET_STD_PCT = 0.5
TARGET_PAIRED_PCT = 0.3

# A stand-in harness for the competing loads: the default train.py trains on the training split forever.
LOAD_HARNESS = '''
import time, torch
BUDGET, DEVICE, EVAL_CONTEXT, SEED, VOCAB_SIZE = "load", "cpu", 128, 0, 256
torch.set_num_threads(1)
_t = time.time()
def elapsed(): return time.time() - _t
def budget_fraction(): return 0.5
def submit_model(model): pass
def train_batches(batch_size, context):
    data = torch.frombuffer(bytearray(open(%r, "rb").read()), dtype=torch.uint8)
    offsets = torch.arange(context + 1)
    while True:
        starts = torch.randint(0, data.numel() - context - 1, (batch_size, 1))
        chunk = data[starts + offsets].long()
        yield chunk[:, :-1], chunk[:, 1:]
'''


def start_loads(n: int, folder: Path, train_bin: Path) -> list[subprocess.Popen[bytes]]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "swarm_harness.py").write_text(LOAD_HARNESS % str(train_bin))
    (folder / "train.py").write_text(default_train_py())
    env = {**os.environ, "PYTHONPATH": str(folder), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return [subprocess.Popen([sys.executable, str(folder / "train.py")], cwd=folder, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]


def stop_loads(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait(timeout=30)


def stats(values: list[float]) -> dict[str, float]:
    mean = statistics.fmean(values) if values else math.nan
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(mean, 5), "std": round(std, 5), "std_pct": round(100 * std / mean, 3) if mean else math.nan}


def paired_std(by_seed: dict[int, list[float]]) -> float:
    """sqrt of the mean over seeds of the variance across loads at that seed."""
    variances = [statistics.variance(v) for v in by_seed.values() if len(v) > 1]
    return math.sqrt(statistics.fmean(variances)) if variances else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10s budget, 3 seeds: about 10 minutes on 2 cores")
    parser.add_argument("--budget", default=None, help="time budget of each run (default 60s; --quick: 10s)")
    parser.add_argument("--runs", type=int, default=None, help="seeds per load (default 5; --quick: 3)")
    parser.add_argument("--loads", default="0,1,2", help="competing loads, comma-separated")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "noise.json")
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--resummarise", action="store_true", help="recompute the figures of --out from its raw rows")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # SIGTERM too stops the loads (finally blocks run)
    if args.resummarise:
        report = json.loads(args.out.read_text())
        report["clocks"] = summarise(report["raw"], report["threads"], report["loads"])
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print_table(report["clocks"], report["loads"])
        return
    budget = Budget.parse(args.budget or ("10s" if args.quick else "60s"))
    runs = args.runs or (3 if args.quick else 5)
    loads = [int(n) for n in args.loads.split(",")]
    clocks = {"wall": cpu_threads(), "cpu": 1}
    ok, why = sandbox_available()
    if not ok and not args.no_sandbox:
        raise SystemExit(f"the sandbox cannot start here ({why}); pass --no-sandbox")
    dataset = builtin_dataset()
    hw = hardware_fingerprint("cpu")
    print(f"noise bench: budget {budget}, {runs} seeds x loads {loads} x clocks {list(clocks)} "
          f"(threads: wall {clocks['wall']}, cpu {clocks['cpu']}); {hw.hw_class}; load avg {os.getloadavg()[0]:.1f}",
          flush=True)
    raw: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="swarm-noise-") as tmp:
        root = Path(tmp)
        train_bin = dataset.prepare(root / "cache") / "train" / "train.bin"
        for n_loads in loads:
            procs = start_loads(n_loads, root / "load", train_bin)
            try:
                time.sleep(2.0 if n_loads else 0.0)  # let the loads get past their imports
                for seed in range(runs):
                    for clock, threads in clocks.items():
                        s = run_experiment(default_train_py(), dataset, budget, work_root=root / "runs", seed=seed,
                                           cache_dir=root / "cache", require_sandbox=not args.no_sandbox,
                                           device="cpu", clock=clock, threads=threads)  # type: ignore[arg-type]
                        row = {"clock": clock, "loads": n_loads, "seed": seed, "status": s.status,
                               "val_bpb": s.val_bpb, "steps": s.steps, "cpu_seconds": s.cpu_seconds,
                               "startup_cpu_seconds": s.startup_cpu_seconds, "wall_seconds": round(s.wall_seconds, 2),
                               "threads": s.threads, "load_avg": round(os.getloadavg()[0], 2)}
                        raw.append(row)
                        bpb = f"{s.val_bpb:.4f}" if s.val_bpb is not None else s.status
                        print(f"  {clock:4s} loads {n_loads} seed {seed}: val_bpb {bpb}  steps {s.steps:5d}  "
                              f"cpu {s.cpu_seconds:6.1f} s  wall {s.wall_seconds:5.1f} s  load avg {row['load_avg']}",
                              flush=True)
            finally:
                stop_loads(procs)
    summary = summarise(raw, clocks, loads)
    report = {"bench": "noise", "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "command": " ".join(["python", "bench/noise.py", *sys.argv[1:]]), "hw_class": hw.hw_class,
              "machine": f"{platform.node()} {hw.name} {hw.cpu_threads} threads", "budget": str(budget),
              "runs": runs, "loads": loads, "threads": clocks, "minutes": round((time.monotonic() - started) / 60, 1),
              "targets": {"std_pct_2_loads": TARGET_STD_PCT, "paired_std_pct": TARGET_PAIRED_PCT},
              "clocks": summary, "raw": raw}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print_table(summary, loads)
    print(f"wrote {args.out} ({report['minutes']} min)")


def summarise(raw: list[dict[str, Any]], clocks: dict[str, int], loads: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for clock in clocks:
        rows = [r for r in raw if r["clock"] == clock and r["status"] == "ok"]
        per_load: dict[str, Any] = {}
        for n in loads:
            mine = [r for r in rows if r["loads"] == n]
            per_load[str(n)] = {"runs": len(mine), "val_bpb": stats([r["val_bpb"] for r in mine]),
                                "steps": stats([float(r["steps"]) for r in mine]),
                                "cpu_seconds": stats([r["cpu_seconds"] for r in mine])}
        by_seed: dict[int, list[float]] = {}
        for r in rows:
            by_seed.setdefault(r["seed"], []).append(r["val_bpb"])
        mean = statistics.fmean(r["val_bpb"] for r in rows) if rows else math.nan
        paired = paired_std(by_seed)
        worst = per_load.get(str(max(loads)), {}).get("val_bpb", {})
        failed = sum(1 for r in raw if r["clock"] == clock and r["status"] != "ok")
        untrained = sum(1 for r in rows if r["steps"] == 0)  # scored, but never got a batch: the budget measured load
        out[clock] = {"loads": per_load, "val_bpb_mean": round(mean, 5), "paired_std": round(paired, 5),
                      "paired_std_pct": round(100 * paired / mean, 3) if rows else math.nan,
                      "std_pct_most_loads": worst.get("std_pct", math.nan), "failed": failed,
                      "untrained": untrained}
        honest = failed == 0 and untrained == 0  # a std over runs that never trained says nothing
        out[clock]["met"] = {"std_pct_2_loads": honest and out[clock]["std_pct_most_loads"] <= TARGET_STD_PCT,
                             "paired_std_pct": honest and out[clock]["paired_std_pct"] <= TARGET_PAIRED_PCT}
    return out


def print_table(summary: dict[str, Any], loads: list[int]) -> None:
    print("\nclock loads  steps mean +- std (pct)     val_bpb mean +- std (pct)")
    for clock, figures in summary.items():
        for n in loads:
            f = figures["loads"][str(n)]
            st, bp = f["steps"], f["val_bpb"]
            print(f"{clock:5s} {n:5d}  {st['mean']:8.1f} +- {st['std']:6.1f} ({st['std_pct']:5.2f}%)   "
                  f"{bp['mean']:.4f} +- {bp['std']:.4f} ({bp['std_pct']:5.2f}%)")
    print("\nclock  paired std (pct)     std with most loads   targets (<= %.1f%%, paired <= %.1f%%)"
          % (TARGET_STD_PCT, TARGET_PAIRED_PCT))
    for clock, f in summary.items():
        met = f["met"]
        print(f"{clock:5s}  {f['paired_std']:.4f} ({f['paired_std_pct']:5.2f}%)    {f['std_pct_most_loads']:5.2f}%"
              f"               std {'met' if met['std_pct_2_loads'] else 'MISSED'}, "
              f"paired {'met' if met['paired_std_pct'] else 'MISSED'}"
              f"  ({f['failed']} runs crashed or timed out, {f['untrained']} scored with 0 steps)")


if __name__ == "__main__":
    main()
