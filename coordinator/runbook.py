"""The runs a node's decisions rest on: which results compete here, the noise model they feed, the next run index.

Paired seeds: the k-th run of a blob on this class (and clock) uses seed k, k = one more than the highest run index
held for that blob by anyone; ``take_index`` hands it out. ``observe`` feeds this node's own competing runs of a
``SwarmView`` into the ``NoiseModel`` by result id (idempotent; peers' runs only move the run index: a liar's number
must not widen the margin or shift the best); a run of this step is held under a pending key until its own Result comes
back through the view.

Pooled baselines: the one exception is the baseline train.py on this class and clock. A trusted peer's baseline run
(same class = same CPU model and thread count, same clock) is evidence of the same distribution, so it joins the model
too, once this node has a baseline run of its own to check it against (``pool_band``: within that share of this
node's own baseline mean; a run outside it is left out for good, and logged), one run per run index (the first there:
the model then holds what a node alone would, so the paired-noise estimate keeps its meaning). N sharing nodes then calibrate with N
runs, one each, at different run indexes (``baseline_indexes``), instead of N x ``baseline_repeats``. What a liar can
do with it is bounded by the band: see ``pool_baseline``. Results of another clock (a wall-clock result beside CPU-seconds ones, e.g. every version-1
result) do not compete under a seconds budget: ``same_clock`` leaves them out of the view.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Callable, Sequence

from coordinator.decide import competes
from coordinator.noise import NoiseModel
from coordinator.records import RunRecord, SwarmView

__all__ = ["RunBook", "POOL_BAND"]

log = logging.getLogger(__name__)

POOL_BAND = 0.03
"""A peer's baseline run is pooled when within 3% of this node's own baseline mean: ~4 sigma of a difference of two
unpaired runs at the simulator's measured level (0.017 bpb of 2.4), ten of the quiet machine's (0.007); under today's
wall-clock noise (4.2%) many honest runs fall outside, and the node simply runs more of its own, as before."""


class RunBook:
    """See the module docstring; ``noise`` is the model it feeds (the Researcher reads margins from it)."""

    def __init__(self, *, noise: NoiseModel, hw_class: str, budget_kind: str, clock: str, author: bytes,
                 trusted: Callable[[bytes], bool] = lambda peer: False, pool_band: float = 0.0) -> None:
        self.noise = noise
        self.trusted = trusted      # read per call: the trust book moves
        self.pool_band = pool_band  # 0: peers' baseline runs are never pooled
        self._held: dict[bytes, Any] = {}   # peers' baseline runs waiting for this node's own first one
        self._left_out: set[bytes] = set()
        self.hw_class = hw_class
        self.budget_kind = budget_kind
        self.clock = clock  # "cpu" | "wall": what this node's seconds budget counts
        self.author = author
        self._next_index: dict[str, int] = {}

    def competes(self, result: object) -> bool:
        return competes(result, hw_class=self.hw_class, budget_kind=self.budget_kind, clock=self.clock)

    def same_clock(self, view: SwarmView) -> SwarmView:
        """The view without results of another clock (under a seconds budget they measure something else)."""
        if self.budget_kind == "tokens":
            return view
        results = [s for s in view.results if getattr(s.result, "clock", "wall") == self.clock]
        return SwarmView(results=results, claims=view.claims, invalid=view.invalid)

    def observe(self, view: SwarmView) -> None:
        """Every competing run in the view into the noise model (by result id) and the run-index counters."""
        for s in view.results:
            r = s.result
            if not self.competes(r) or self.noise.has(s.result_id):
                continue
            k = int(getattr(r, "run_index", 0))
            if k >= self._next_index.get(r.blob, 0):
                self._next_index[r.blob] = k + 1
            if r.status == "crash":
                continue
            if r.author != self.author:
                if r.blob == self.noise.baseline_blob and s.result_id not in self._left_out:
                    self._held[s.result_id] = r  # pooled once checked against this node's own baseline runs
                continue  # peers' numbers are hints: a liar's run must not move this node's noise or its best
            self.noise.discard(("pending", r.blob, k))
            self.noise.add(r.blob, r.metric, k, author=r.author, key=s.result_id)
        self.pool_baseline()

    def pool_baseline(self) -> None:
        """Trusted peers' held baseline runs into the model, each within ``pool_band`` of this node's own baseline
        mean (none before this node has one). Why this is safe enough: same class names the same CPU model, threads
        and clock, so honest runs are draws of one distribution; the own run catches a class whose numbers differ
        (a run outside the band never joins); a liar inside the band moves the baseline's mean by at most
        band / (runs pooled) and cannot widen the margin beyond the band; a peer found out elsewhere (a refuted claim,
        trust.py) stops counting for runs not yet pooled. Candidates are still judged on this node's own runs."""
        if self.pool_band <= 0 or not self._held:
            return
        own = self.noise.own_runs_of(self.noise.baseline_blob)
        if not own:
            return
        anchor = sum(own) / len(own)
        for key, r in list(self._held.items()):
            if not self.trusted(r.author):
                continue  # kept held: a peer whose trust comes back is pooled then
            del self._held[key]
            k = int(getattr(r, "run_index", 0))
            if k in self.noise.by_index(r.blob):
                self._left_out.add(key)  # one run per index, as a node alone has: the paired noise stays one run's
            elif abs(r.metric - anchor) <= self.pool_band * abs(anchor):
                self.noise.add(r.blob, r.metric, k, author=r.author, key=key)
            else:
                self._left_out.add(key)
                log.info("peer %s's baseline run %.4f is %.1f%% from this node's %.4f: not pooled",
                         r.author.hex()[:8], r.metric, 100 * abs(r.metric / anchor - 1), anchor)

    def baseline_indexes(self, repeats: int, rng: random.Random, count: int) -> list[int]:
        """The run indexes of this node's next ``count`` baseline runs: indexes under ``repeats`` that no run in the
        model (own or pooled) has yet, in a random order (N nodes that start together mostly pick different ones, so
        their pooled runs cover the indexes candidates pair with; in index order), then the next free ones. Seed k stays
        run k."""
        held = set(self.noise.by_index(self.noise.baseline_blob))
        held |= {int(getattr(r, "run_index", 0)) for r in self._held.values() if self.trusted(r.author)}
        missing = [k for k in range(repeats) if k not in held]
        rng.shuffle(missing)
        out = sorted(missing[:count])
        for k in out:
            self._next_index[self.noise.baseline_blob] = max(self._next_index.get(self.noise.baseline_blob, 0), k + 1)
        return out + [self.take_index(self.noise.baseline_blob) for _ in range(count - len(out))]

    def mean_of(self, blob: str) -> float | None:
        runs = self.noise.runs_of(blob)
        return sum(runs) / len(runs) if runs else None

    def reference(self, head_blob: str, parents: Sequence[str] = ()) -> tuple[str, dict[int, float]]:
        """The blob a candidate must beat and its runs by index: HEAD, or (``parents``: a stack's) the better merged
        parent by mean."""
        best_blob, best_mean = head_blob, self.mean_of(head_blob)
        for blob in parents:
            mean = self.mean_of(blob)
            if mean is not None and (best_mean is None or mean < best_mean):
                best_blob, best_mean = blob, mean
        return best_blob, self.noise.by_index(best_blob)

    def take_index(self, blob: str) -> int:
        """The run index (and seed) of the next run of ``blob``."""
        k = self._next_index.get(blob, 0)
        self._next_index[blob] = k + 1
        return k

    def record(self, run: Any, blob: str, k: int, action: str) -> RunRecord:
        """The record of a finished run (``trainer.RunSummary``-like); a run that finished joins the noise model."""
        ok = run.status == "ok" and run.val_bpb is not None
        clock = getattr(run, "clock", self.clock)
        record = RunRecord(
            action=action, run_index=k, status="ok" if ok else "crash",
            metric=float(run.val_bpb) if ok and run.val_bpb is not None else 0.0, steps=int(run.steps),
            tokens=int(run.tokens), wall_seconds=float(run.wall_seconds),
            cpu_seconds=float(getattr(run, "cpu_seconds", 0.0) or 0.0), peak_memory_mb=float(run.peak_memory_mb),
            clock=clock if clock in ("cpu", "wall") else self.clock)
        if ok:
            self.noise.add(blob, record.metric, k, author=self.author, key=("pending", blob, k))
        return record
