"""Swarm simulator: time for 1, 4, 8 and 16 nodes to reach a target val_bpb, sharing results or working independently.

    .venv/bin/python bench/swarm_sim.py [--seeds 7] [--target 2.175] [--nodes 1,4,8,16] [--max-experiments 400]
                                        [--agents mutate,tpe]

Each agent gets its own table (``tpe`` with sharing is the swarm as one optimiser: every node's results are trials of
every node's study, claims in flight are its pending trials), then one line per node count puts them side by side.

Runs the REAL coordinator (Researcher, MutateAgent, noise-aware decide, dedupe, claims, adopt/verify, stacking, trust)
with training replaced by a synthetic objective of train.py's knobs (``coordinator.simulate``: quadratic bowls in log
space around hidden optima, choice effects, "out of memory" crashes, Gaussian run-to-run noise of 0.005 bpb, i.e. a
margin of ~0.01), 75 simulated seconds per experiment, and an in-memory gossip that delivers each outcome to the other
nodes when it finishes. "Reached" = the noise-free value of some node's kept HEAD is <= target (a lucky score does
not count). Sharing nodes are compared with the same number of nodes that never see each other (the best of N
independent searches). Medians over seeds; a run that does not reach the target counts as the cap (marked ``>``), which
only understates the speedups.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coordinator.agents.mutate import MutateAgent  # noqa: E402
from coordinator.simulate import SIM_TRAIN_PY, SimSwarm, true_value  # noqa: E402

RUN_TIME = 75.0


def _agent(name: str):  # type: ignore[no-untyped-def]
    if name == "tpe":
        from coordinator.agents.tpe import TPEAgent

        return TPEAgent
    return MutateAgent


def measure(n: int, share: bool, seeds: int, target: float, cap: float,
            agent: str = "mutate") -> tuple[float, int, Counter[str]]:
    """Median simulated seconds to target over seeds, how many seeds hit the cap, and the mix of actions."""
    times, capped, mix = [], 0, Counter[str]()
    for seed in range(seeds):
        swarm = SimSwarm(n, seed=seed, share=share, run_time=RUN_TIME, agent=_agent(agent))
        reached = swarm.run_until(target=target, max_time=cap)
        if reached is None:
            capped += 1
        times.append(reached if reached is not None else cap)
        mix.update(f"{o.action}:{o.status}" for node in swarm.nodes for o in node.outcomes)
    return statistics.median(times), capped, mix


def table(agent: str, counts: list[int], seeds: int, target: float, cap: float) -> list[tuple[int, float, float]]:
    """One agent's table (sharing vs independent at each node count); returns (n, sharing, independent) medians."""
    single, single_capped, _ = measure(1, True, seeds, target, cap, agent)
    rows = []
    for n in counts:
        if n == 1:
            shared, s_cap, mix = single, single_capped, Counter[str]()
            alone, a_cap = single, single_capped
        else:
            shared, s_cap, mix = measure(n, True, seeds, target, cap, agent)
            alone, a_cap, _ = measure(n, False, seeds, target, cap, agent)
        rows.append((n, shared, s_cap, alone, a_cap, mix))
    mark = lambda capped: ">" if capped > len(range(seeds)) // 2 else " "  # noqa: E731
    print(f"\n{'nodes':>5} | {'sharing: time (exps/node)':>26} | {'independent: time':>18} | "
          f"{'speedup vs 1 node':>17} | {'sharing vs independent':>22} | capped runs (sharing/indep.)")
    for n, shared, s_cap, alone, a_cap, _ in rows:
        print(f"{n:>5} | {mark(s_cap)}{shared:>8.0f} s ({shared / RUN_TIME:>6.1f})      | {mark(a_cap)}{alone:>9.0f} s "
              f"      | {single / shared:>16.1f}x | {alone / shared:>21.1f}x | {s_cap}/{a_cap} of {seeds}")
    for n, *_, mix in rows:
        if mix:
            total = sum(mix.values())
            top = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1])[:8])
            print(f"actions with {n} sharing nodes: {top}")
    return [(n, shared, alone) for n, shared, _, alone, _, _ in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=7)
    parser.add_argument("--target", type=float, default=2.175)
    parser.add_argument("--nodes", default="1,4,8,16")
    parser.add_argument("--max-experiments", type=int, default=400, help="per node, the cap of a run")
    parser.add_argument("--agents", default="mutate,tpe", help="comma-separated: mutate, tpe")
    args = parser.parse_args()
    cap = args.max_experiments * RUN_TIME
    counts = [int(x) for x in args.nodes.split(",")]
    print(f"baseline true val_bpb {true_value(SIM_TRAIN_PY):.4f}, target {args.target}, noise std 0.005, "
          f"{RUN_TIME:.0f} s per experiment, {args.seeds} seeds, cap {args.max_experiments} experiments per node")
    started = time.perf_counter()
    summary: dict[str, list[tuple[int, float, float]]] = {}
    for agent in args.agents.split(","):
        print(f"\n== agent {agent}")
        summary[agent] = table(agent, counts, args.seeds, args.target, cap)
    print(f"\n{'nodes':>5} | " + " | ".join(f"{a + ' sharing':>16} | {a + ' indep.':>14}" for a in summary))
    for i, n in enumerate(counts):
        print(f"{n:>5} | " + " | ".join(f"{rows[i][1]:>14.0f} s | {rows[i][2]:>12.0f} s" for rows in summary.values()))
    print(f"\n(simulated in {time.perf_counter() - started:.0f} s of wall clock)")


if __name__ == "__main__":
    main()
