"""Run-to-run noise of val_bpb on this node's hardware class, and the keep margin that follows from it.

Evidence is every group of repeated runs of one blob on this class (the baseline repeats first, then re-runs of
candidates). The noise is the pooled sample standard deviation over the groups; the margin is
``max(sigmas * std, floor)``: with 2 sigmas a change that gains nothing is kept from one run about 2% of the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = ["NoiseModel", "NoiseEvidence"]

UNCALIBRATED_MARGIN = 0.01  # bpb: the margin used before any repeat has been measured


@dataclass(frozen=True)
class NoiseEvidence:
    """What status shows: how the margin was obtained."""

    runs: int                 # runs that belong to a group of 2 or more
    groups: int               # blobs measured 2 or more times
    std: float | None         # pooled standard deviation, None before any repeat
    margin: float
    baseline_runs: int


class NoiseModel:
    """Repeated measurements per blob -> pooled std -> keep margin."""

    def __init__(self, *, baseline_blob: str, sigmas: float = 2.0, floor: float = 0.002,
                 runs: Mapping[str, Sequence[float]] | None = None) -> None:
        self.baseline_blob = baseline_blob
        self.sigmas = sigmas
        self.floor = floor
        self._runs: dict[str, list[float]] = {b: list(v) for b, v in (runs or {}).items()}

    def add(self, blob: str, metric: float) -> None:
        """One more finished (non-crash) run of ``blob`` on this class."""
        if math.isfinite(metric):
            self._runs.setdefault(blob, []).append(metric)

    def runs_of(self, blob: str) -> list[float]:
        return list(self._runs.get(blob, ()))

    def baseline_runs(self) -> int:
        return len(self._runs.get(self.baseline_blob, ()))

    def calibrated(self, repeats: int) -> bool:
        """True once the baseline has been run ``repeats`` times here."""
        return self.baseline_runs() >= repeats

    @property
    def std(self) -> float | None:
        squares, dof = 0.0, 0
        for values in self._runs.values():
            if len(values) < 2:
                continue
            mean = sum(values) / len(values)
            squares += sum((v - mean) ** 2 for v in values)
            dof += len(values) - 1
        return math.sqrt(squares / dof) if dof else None

    @property
    def margin(self) -> float:
        std = self.std
        if std is None:
            return max(UNCALIBRATED_MARGIN, self.floor)
        return max(self.sigmas * std, self.floor)

    def evidence(self) -> NoiseEvidence:
        groups = [v for v in self._runs.values() if len(v) >= 2]
        return NoiseEvidence(runs=sum(len(v) for v in groups), groups=len(groups), std=self.std,
                             margin=self.margin, baseline_runs=self.baseline_runs())
