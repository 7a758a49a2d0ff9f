"""Keep, discard or re-run: the noise-aware decision on one candidate against the current best.

Paired seeds (common random numbers): the k-th run of every train.py uses the swarm's k-th seed, so a candidate's
run k is compared with the best's run k; what the seed does to val_bpb (data order, initialisation) cancels in the
difference, and the margin is the noise of that difference (``NoiseModel.paired_margin``). Where the best has no run
with the candidate's index (or paired noise is not measured yet), the runs are compared with the best's mean under
the unpaired margin. Until the paired noise is measured, paired differences are judged against the bound
``sqrt 2 * margin`` (never tighter than unpaired, so the pairing can only remove the seeds' shift of the mean).

Rule on the gains ``g_k`` (best - candidate, positive is better; ``margin`` = 2 sigma of one gain):

- one run: any gain -> re-run (with the next seed); no gain -> discard. A single run is never kept: every kept
  train.py has at least two runs, so its mean is what "best" shows and the next candidate has two runs to pair with;
- n >= 2 runs: keep when the mean gain is over ``margin / sqrt(n)`` (2 sigmas of the mean), else discard.

A change that gains nothing is kept about 3.8% of the time; a real gain of 2 sigmas about 80% of the time
(tests/unit/coordinator/test_keep_rule.py measures it with the simulator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

__all__ = ["Decision", "decide", "decide_gains", "decide_runs", "comparable", "competes"]

Verdict = Literal["keep", "discard", "rerun"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    gain: float          # mean gain: best - candidate, positive is better (lower val_bpb)
    margin: float
    reason: str
    paired: bool = False  # decided on paired differences (same seeds)


def decide_gains(gains: Sequence[float], margin: float, *, paired: bool = False) -> Decision:
    """The verdict on per-run gains (best - candidate, positive is better) under ``margin`` (2 sigma of one gain)."""
    if not gains:
        raise ValueError("a decision needs at least one run")
    n = len(gains)
    gain = sum(gains) / n
    how = "paired " if paired else ""
    if n == 1:
        if gain > 0:
            return Decision("rerun", gain, margin, f"{how}gain {gain:.4f} from one run (margin {margin:.4f}): "
                            "re-run with the next seed", paired)
        return Decision("discard", gain, margin, f"no {how}gain ({gain:+.4f})", paired)
    bar = margin / math.sqrt(n)
    if gain > bar:
        return Decision("keep", gain, margin, f"mean {how}gain of {n} runs {gain:.4f} > {bar:.4f}", paired)
    return Decision("discard", gain, margin, f"mean {how}gain of {n} runs {gain:+.4f} <= {bar:.4f}", paired)


def decide(candidate: Sequence[float], best: float, margin: float) -> Decision:
    """The unpaired verdict on a candidate's runs (val_bpb, lower is better) against the best's mean."""
    return decide_gains([best - c for c in candidate], margin)


def decide_runs(candidate: Mapping[int, float], reference: Mapping[int, float], *, margin: float,
                paired_margin: float | None) -> Decision:
    """The verdict on a candidate's runs by run index against the reference's (the best's) runs by run index.

    Paired when every candidate run has a reference run of the same index, under ``paired_margin`` (or, before the
    paired noise is measured, ``sqrt 2 * margin``: a difference of two runs has at most twice one run's variance);
    otherwise every run is compared with the reference's mean under the unpaired ``margin``."""
    if not reference:
        raise ValueError("the reference has no runs")
    if all(k in reference for k in candidate):
        bound = paired_margin if paired_margin is not None else math.sqrt(2) * margin
        return decide_gains([reference[k] - v for k, v in sorted(candidate.items())], bound, paired=True)
    mean = sum(reference.values()) / len(reference)
    return decide([v for _, v in sorted(candidate.items())], mean, margin)


def comparable(hw_class: str, budget_kind: str, mine: str) -> bool:
    """Whether a result of ``hw_class`` competes with this node's: any class under a token budget, same class else."""
    return budget_kind == "tokens" or hw_class == mine


def competes(result: object, *, hw_class: str, budget_kind: str, clock: str) -> bool:
    """``comparable``, and under a seconds budget the same clock too: a wall-clock result (every version-1 result)
    competes only with wall-clock results, a CPU-seconds one only with CPU-seconds ones."""
    if not comparable(getattr(result, "hw_class", ""), budget_kind, hw_class):
        return False
    return budget_kind == "tokens" or getattr(result, "clock", "wall") == clock
