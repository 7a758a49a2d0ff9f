"""Swarm simulator: time for 1, 4, 8 and 16 nodes to reach a target val_bpb, sharing results or working independently.

    .venv/bin/python bench/swarm_sim.py [--seeds 7] [--target 2.175] [--nodes 1,4,8,16] [--max-experiments 400]
                                        [--agents mutate,tpe] [--noise-file bench/results/noise.json] [--levels today,new]

Each agent gets its own table (``tpe`` with sharing is the swarm as one optimiser: every node's results are trials of
every node's study, claims in flight are its pending trials), then one line per node count puts them side by side.

The noise is measured, not chosen: at today's noise (a 60 s wall-clock budget on a shared machine) and at the new one
(CPU-seconds budgets, paired seeds), both from ``bench/noise.py``'s figures file (``--noise-file``, read when
present: see ``load_noise``), else from the figures in ../shared/MEASURED.md (and it says so). Each level is a run's
own noise (what paired runs do not cancel) plus what a seed does to every train.py alike (what they cancel).

Runs the REAL coordinator (Researcher, MutateAgent, noise-aware decide, dedupe, claims, adopt/verify, stacking, trust)
with training replaced by a synthetic objective of train.py's knobs (``coordinator.simulate``: quadratic bowls in log
space around hidden optima, choice effects, "out of memory" crashes, Gaussian run-to-run noise of 0.005 bpb, i.e. a
margin of ~0.01 before this file took its noise from measurements), 75 simulated seconds per experiment, and an in-memory gossip that delivers each outcome to the other
nodes when it finishes. The simulated time counts training runs only (each node's runs x 75 s: baseline runs, a
candidate's first run and its re-run, adopts, stacks; a step's runs one after another, as ``parallel=1``); the
coordinator's own work (TPE's asks, merges) and gossip delay are free. "Reached" = the noise-free value of some node's kept HEAD is <= target (a lucky score does
not count). Sharing nodes are compared with the same number of nodes that never see each other (the best of N
independent searches). Medians over seeds; a run that does not reach the target counts as the cap (marked ``>``), which
only understates the speedups: a capped 1 node caps the "vs 1 node" ratio at cap / (8 nodes' time), so raise
``--max-experiments`` (one node took 77-99 experiments at the measured noise) before reading a speed-up off it.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coordinator.agents.mutate import MutateAgent  # noqa: E402
from coordinator.simulate import SIM_TRAIN_PY, SimSwarm, true_value  # noqa: E402

RUN_TIME = 75.0
NOISE_FILE = Path(__file__).resolve().parent / "results" / "noise.json"
MEAN = 2.4  # bpb: the default train.py's val_bpb, to turn relative figures into bpb
# ../shared/MEASURED.md: six 60 s wall-clock baseline runs beside a second node: std 0.12 (4.2%); a quiet machine:
# the same seed std 0.0025, different seeds std 0.007 (so a seed moves every train.py by ~0.0065).
MEASURED = {"today": (0.12, 0.0065), "new": (0.0025, 0.0065)}


def _agent(name: str):  # type: ignore[no-untyped-def]
    if name == "tpe":
        from coordinator.agents.tpe import TPEAgent

        return TPEAgent
    return MutateAgent


def _numbers(tree: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float]]:
    if isinstance(tree, dict):
        return [x for k, v in tree.items() for x in _numbers(v, (*path, str(k).lower()))]
    if isinstance(tree, list):
        return [x for i, v in enumerate(tree) for x in _numbers(v, (*path, str(i)))]
    if isinstance(tree, (int, float)) and not isinstance(tree, bool) and math.isfinite(tree):
        return [(path, float(tree))]
    return []


def load_noise(path: Path) -> tuple[dict[str, tuple[float, float]], str]:
    """(level -> (own noise, seed noise) in bpb, where they came from).

    From ``bench/noise.py``'s JSON: the largest ``std`` under a wall-clock budget is today's own noise; the largest
    ``paired_std`` under a CPU budget, divided by sqrt 2, is the new own noise (both of val_bpb, e.g.
    ``clocks.wall.loads.2.val_bpb.std`` and ``clocks.cpu.paired_std``; ``*_pct`` keys are percent of the mean; a
    paired std of 0, an untrained quick run, is not used). The seeds' shared effect stays MEASURED.md's 0.0065. A
    missing or unreadable file falls back to MEASURED.md's figures."""
    try:
        numbers = _numbers(json.loads(path.read_text()))
    except (OSError, ValueError):
        return dict(MEASURED), f"{path} not found or unreadable: the figures of ../shared/MEASURED.md"

    def bpb(p: tuple[str, ...], v: float) -> float:
        relative = any(w in part for part in p for w in ("pct", "percent", "rel"))
        return v / 100 * MEAN if "pct" in "".join(p) or "percent" in "".join(p) else (v * MEAN if relative else v)

    wall = [bpb(p, v) for p, v in numbers if p[-1] in ("std", "std_pct") and "val_bpb" in p and "wall" in p]
    paired = [bpb(p, v) for p, v in numbers if p[-1] in ("paired_std", "paired_std_pct") and "cpu" in p and v > 0]
    levels, seed = dict(MEASURED), MEASURED["new"][1]
    notes = []
    if wall:
        levels["today"] = (max(wall), seed)
        notes.append(f"today {max(wall):.4f}")
    if paired:
        levels["new"] = (max(paired) / math.sqrt(2), seed)
        notes.append(f"new paired {max(paired):.4f}")
    source = f"{path} ({', '.join(notes)})" if notes else f"{path} had no usable figures: ../shared/MEASURED.md"
    return levels, source


def measure(n: int, share: bool, seeds: int, target: float, cap: float, noise: tuple[float, float] = (0.005, 0.0),
            agent: str = "mutate") -> tuple[float, int, Counter[str]]:
    """Median simulated seconds to target over seeds, how many seeds hit the cap, and the mix of actions."""
    times, capped, mix = [], 0, Counter[str]()
    for seed in range(seeds):
        swarm = SimSwarm(n, seed=seed, share=share, run_time=RUN_TIME, noise=noise[0], seed_noise=noise[1],
                         agent=_agent(agent))
        reached = swarm.run_until(target=target, max_time=cap)
        if reached is None:
            capped += 1
        times.append(reached if reached is not None else cap)
        mix.update(f"{o.action}{' re-run' if r.action == 'rerun' else ''}" for node in swarm.nodes
                   for o in node.outcomes for r in o.records)  # per run: what the simulated time is spent on
    return statistics.median(times), capped, mix


def table(agent: str, counts: list[int], seeds: int, target: float, cap: float,
          noise: tuple[float, float]) -> list[tuple[int, float, float, int]]:
    """One agent's table at one noise level (sharing vs independent at each node count); returns (n, speed-up vs 1
    node, speed-up vs as many independent nodes, capped sharing runs)."""
    single, single_capped, _ = measure(1, True, seeds, target, cap, noise, agent)
    rows = []
    for n in counts:
        if n == 1:
            shared, s_cap, mix = single, single_capped, Counter[str]()
            alone, a_cap = single, single_capped
        else:
            shared, s_cap, mix = measure(n, True, seeds, target, cap, noise, agent)
            alone, a_cap, _ = measure(n, False, seeds, target, cap, noise, agent)
        rows.append((n, shared, s_cap, alone, a_cap, mix))
    mark = lambda capped: ">" if capped > len(range(seeds)) // 2 else " "  # noqa: E731
    print(f"{'nodes':>5} | {'sharing: time (exps/node)':>26} | {'independent: time':>18} | "
          f"{'speedup vs 1 node':>17} | {'sharing vs independent':>22} | capped runs (sharing/indep.)")
    for n, shared, s_cap, alone, a_cap, _ in rows:
        print(f"{n:>5} | {mark(s_cap)}{shared:>8.0f} s ({shared / RUN_TIME:>6.1f})      | {mark(a_cap)}"
              f"{alone:>9.0f} s       | {single / shared:>16.1f}x | {alone / shared:>21.1f}x | "
              f"{s_cap}/{a_cap} of {seeds}")
    for n, *_, mix in rows:
        if mix:
            total = sum(mix.values())
            top = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1])[:8])
            print(f"runs with {n} sharing nodes (the simulated time): {top}")
    half = len(range(seeds)) // 2
    times[agent, noise] = {n: ((shared / RUN_TIME, s_cap > half), (alone / RUN_TIME, a_cap > half))
                           for n, shared, s_cap, alone, a_cap, _ in rows}
    return [(n, single / shared, alone / shared, s_cap) for n, shared, s_cap, alone, _, _ in rows]


times: dict[tuple[str, tuple[float, float]], dict[int, tuple[tuple[float, bool], tuple[float, bool]]]] = {}
"""(agent, noise) -> nodes -> ((experiments per node sharing, capped), (independent, capped)), filled by ``table``."""


def side_by_side(counts: list[int], level: str, noise: tuple[float, float]) -> None:
    """Experiments per node to the target: mutate sharing, tpe alone (independent nodes) and tpe sharing."""
    cell = lambda x: f"{'>' if x[1] else ''}{x[0]:.1f}"  # noqa: E731
    print(f"\n{level} noise, experiments per node to the target (median over seeds; '>' most seeds capped):")
    print(f"{'nodes':>5} | {'mutate sharing':>14} | {'tpe independent':>15} | {'tpe sharing':>11} | "
          f"tpe sharing vs 1 node | vs as many independent")
    mutate, tpe = times.get(("mutate", noise), {}), times.get(("tpe", noise), {})
    for n in counts:
        if n not in tpe:
            continue
        m = cell(mutate[n][0]) if n in mutate else "-"
        print(f"{n:>5} | {m:>14} | {cell(tpe[n][1]):>15} | {cell(tpe[n][0]):>11} | "
              f"{tpe[1][0][0] / tpe[n][0][0]:>20.1f}x | {tpe[n][1][0] / tpe[n][0][0]:>21.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=7)
    parser.add_argument("--target", type=float, default=2.175)
    parser.add_argument("--nodes", default="1,4,8,16")
    parser.add_argument("--max-experiments", type=int, default=400, help="per node, the cap of a run")
    parser.add_argument("--agents", default="mutate,tpe", help="comma-separated: mutate, tpe")
    parser.add_argument("--noise-file", type=Path, default=NOISE_FILE, help="bench/noise.py's figures (JSON)")
    parser.add_argument("--levels", default="today,new", help="comma-separated noise levels: today, new")
    args = parser.parse_args()
    cap = args.max_experiments * RUN_TIME
    counts = [int(x) for x in args.nodes.split(",")]
    levels, source = load_noise(args.noise_file)
    print(f"baseline true val_bpb {true_value(SIM_TRAIN_PY):.4f}, target {args.target}, "
          f"{RUN_TIME:.0f} s per experiment, {args.seeds} seeds, cap {args.max_experiments} experiments per node")
    print(f"noise from {source}")
    started = time.perf_counter()
    summary: list[tuple[str, int, float, float, int]] = []
    for agent in args.agents.split(","):
        for level, noise in [(k, v) for k, v in levels.items() if k in args.levels.split(",")]:
            print(f"\n== agent {agent}, {level} noise: a run's own noise {noise[0]:.4f} bpb, a seed's shared effect "
                  f"{noise[1]:.4f} bpb (paired std {noise[0] * math.sqrt(2):.4f}, unpaired {math.hypot(*noise):.4f})")
            for n, a, b, c in table(agent, counts, args.seeds, args.target, cap, noise):
                summary.append((f"{agent} {level}", n, a, b, c))
    print("\nside by side (speed-up vs 1 node / vs as many independent nodes):")
    for n in counts:
        cells = [f"{what}: {a:.1f}x / {b:.1f}x{' (capped)' if c else ''}" for what, m, a, b, c in summary if m == n]
        print(f"  {n:>2} nodes  " + "   ".join(cells))
    for level, noise in [(k, v) for k, v in levels.items() if k in args.levels.split(",")]:
        side_by_side(counts, level, noise)
    print(f"\n(simulated in {time.perf_counter() - started:.0f} s of wall clock)")


if __name__ == "__main__":
    main()
