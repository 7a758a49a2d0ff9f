"""Run-to-run noise of val_bpb on this node's hardware class, and the keep margins that follow from it.

Evidence is every run of a blob on this class that competes with this node (own and peers', by result id; this
step's own runs while they are not yet published). Two measures:

- ``std``: the pooled sample standard deviation of repeated runs of one blob (different seeds): the unpaired noise;
  ``margin = max(sigmas * std, floor)``;
- ``paired_std``: the noise of a paired difference, run k of blob A minus run k of blob B (the same seed): for every
  two blobs that share two or more run indexes, the spread of their differences around the pair's mean difference,
  pooled; ``paired_margin = max(sigmas * paired_std, floor)``, ``None`` until a pair has been measured.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = ["NoiseModel", "NoiseEvidence", "UNCALIBRATED_MARGIN"]

UNCALIBRATED_MARGIN = 0.01  # bpb: the margin used before any repeat has been measured
RECENT_PAIRED_BLOBS = 40  # paired noise is pooled over pairs of the baseline and the latest repeated blobs


@dataclass(frozen=True)
class NoiseEvidence:
    """What status shows: how the margins were obtained."""

    runs: int                 # runs that belong to a group of 2 or more
    groups: int               # blobs measured 2 or more times
    std: float | None         # pooled standard deviation, None before any repeat
    margin: float
    baseline_runs: int
    paired_std: float | None = None   # the noise of one paired difference (same seed), None before a pair
    paired_margin: float | None = None
    pairs: int = 0                    # degrees of freedom behind paired_std


@dataclass(frozen=True)
class _Run:
    blob: str
    run_index: int | None
    metric: float
    author: bytes


class NoiseModel:
    """Runs per blob (with their run index) -> pooled std and paired std -> keep margins."""

    def __init__(self, *, baseline_blob: str, sigmas: float = 2.0, floor: float = 0.002,
                 runs: Mapping[str, Sequence[float]] | None = None, owner: bytes = b"") -> None:
        self.baseline_blob = baseline_blob
        self.sigmas = sigmas
        self.floor = floor
        self.owner = owner
        self._runs: dict[object, _Run] = {}
        self._by_blob: dict[str, dict[object, _Run]] = {}
        for blob, values in (runs or {}).items():
            for value in values:
                self.add(blob, value)

    def add(self, blob: str, metric: float, run_index: int | None = None, *, author: bytes = b"",
            key: object = None) -> None:
        """One more finished (non-crash) run of ``blob``; ``key`` (a result id) makes adding it twice a no-op."""
        if not math.isfinite(metric):
            return
        key = ("anon", len(self._runs)) if key is None else key
        self.discard(key)
        run = _Run(blob, run_index, metric, author)
        self._runs[key] = run
        self._by_blob.setdefault(blob, {})[key] = run

    def discard(self, key: object) -> None:
        old = self._runs.pop(key, None)
        if old is not None:
            self._by_blob[old.blob].pop(key, None)

    def has(self, key: object) -> bool:
        return key in self._runs

    def runs_of(self, blob: str) -> list[float]:
        return [r.metric for r in self._by_blob.get(blob, {}).values()]

    def by_index(self, blob: str) -> dict[int, float]:
        """Run index -> the mean of the runs of ``blob`` with that index (several nodes may have run one index)."""
        groups: dict[int, list[float]] = {}
        for r in self._by_blob.get(blob, {}).values():
            if r.run_index is not None:
                groups.setdefault(r.run_index, []).append(r.metric)
        return {k: sum(v) / len(v) for k, v in groups.items()}

    def own_runs_of(self, blob: str) -> list[float]:
        """This node's own runs of ``blob`` (all of them when the model has no ``owner``)."""
        return [r.metric for r in self._by_blob.get(blob, {}).values() if not self.owner or r.author == self.owner]

    def baseline_indexes(self) -> int:
        """Distinct run indexes of the baseline in the model (own runs, and peers' pooled ones: runbook.py); a run
        without an index (an old record) counts as one of its own."""
        runs = self._by_blob.get(self.baseline_blob, {}).values()
        return len({r.run_index for r in runs if r.run_index is not None}) + sum(r.run_index is None for r in runs)

    def baseline_runs(self) -> int:
        """Runs of the baseline on this class (this node's own when the model has an ``owner``)."""
        runs = self._by_blob.get(self.baseline_blob, {}).values()
        return sum(1 for r in runs if not self.owner or r.author == self.owner)

    def calibrated(self, repeats: int) -> bool:
        """True once the baseline has been run here (at least once) and the model holds ``repeats`` distinct run
        indexes of it: this node's own, or with peers' pooled runs of the same class and clock (runbook.py)."""
        return self.baseline_runs() >= 1 and self.baseline_indexes() >= repeats

    @property
    def std(self) -> float | None:
        squares, dof = 0.0, 0
        for runs in self._by_blob.values():
            values = [r.metric for r in runs.values()]
            if len(values) < 2:
                continue
            mean = sum(values) / len(values)
            squares += sum((v - mean) ** 2 for v in values)
            dof += len(values) - 1
        return math.sqrt(squares / dof) if dof else None

    def _paired(self) -> tuple[float | None, int]:
        indexed = {b: self.by_index(b) for b in self._by_blob}
        multi = [(b, v) for b, v in indexed.items() if len(v) >= 2]
        if len(multi) > RECENT_PAIRED_BLOBS:  # bounded work: the baseline and the latest repeated blobs
            multi = [m for m in multi if m[0] == self.baseline_blob] + [
                m for m in multi[-RECENT_PAIRED_BLOBS:] if m[0] != self.baseline_blob]
        squares, dof = 0.0, 0
        for (_, a), (_, b) in itertools.combinations(multi, 2):
            shared = sorted(set(a) & set(b))
            if len(shared) < 2:
                continue
            diffs = [a[k] - b[k] for k in shared]
            mean = sum(diffs) / len(diffs)
            squares += sum((d - mean) ** 2 for d in diffs)
            dof += len(diffs) - 1
        return (math.sqrt(squares / dof) if dof else None), dof

    @property
    def paired_std(self) -> float | None:
        return self._paired()[0]

    @property
    def margin(self) -> float:
        std = self.std
        if std is None:
            return max(UNCALIBRATED_MARGIN, self.floor)
        return max(self.sigmas * std, self.floor)

    @property
    def paired_margin(self) -> float | None:
        std = self.paired_std
        return None if std is None else max(self.sigmas * std, self.floor)

    def evidence(self) -> NoiseEvidence:
        groups = [v for v in self._by_blob.values() if len(v) >= 2]
        paired_std, pairs = self._paired()
        return NoiseEvidence(runs=sum(len(v) for v in groups), groups=len(groups), std=self.std,
                             margin=self.margin, baseline_runs=self.baseline_runs(), paired_std=paired_std,
                             paired_margin=None if paired_std is None else max(self.sigmas * paired_std, self.floor),
                             pairs=pairs)
