"""Keep, discard or re-run: the noise-aware decision on one candidate against the current best.

Rule (``margin`` = 2 sigma of one run, see noise.py):

- one run, gain > margin: keep;
- one run, 0 < gain <= margin: re-run once (the gain may be noise);
- two or more runs: keep when the mean gains more than margin / 2. The mean of two runs has sigma / sqrt(2) of noise,
  so margin / 2 = sigma is about 1.4 of its sigmas: a change that gains nothing passes both steps under 8% of the time,
  while a real gain of one sigma is kept about half the time instead of being lost to a single unlucky run;
- otherwise discard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

__all__ = ["Decision", "decide", "comparable"]

Verdict = Literal["keep", "discard", "rerun"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    gain: float          # best - mean(candidate): positive is better (lower val_bpb)
    margin: float
    reason: str


def decide(candidate: Sequence[float], best: float, margin: float) -> Decision:
    """The verdict on a candidate's runs (val_bpb, lower is better) against the best metric and the noise margin."""
    if not candidate:
        raise ValueError("decide needs at least one run")
    mean = sum(candidate) / len(candidate)
    gain = best - mean
    runs = len(candidate)
    if runs == 1:
        if gain > margin:
            return Decision("keep", gain, margin, f"gain {gain:.4f} > margin {margin:.4f}")
        if gain > 0:
            return Decision("rerun", gain, margin, f"gain {gain:.4f} within margin {margin:.4f}: re-run")
        return Decision("discard", gain, margin, f"no gain ({gain:+.4f})")
    if gain > margin / 2:
        return Decision("keep", gain, margin, f"mean of {runs} gains {gain:.4f} > margin/2 {margin / 2:.4f}")
    return Decision("discard", gain, margin, f"mean of {runs} gains {gain:+.4f} <= margin/2 {margin / 2:.4f}")


def comparable(hw_class: str, budget_kind: str, mine: str) -> bool:
    """Whether a result of ``hw_class`` competes with this node's: any class under a token budget, same class else."""
    return budget_kind == "tokens" or hw_class == mine
