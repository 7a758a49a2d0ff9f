"""The runs a node's decisions rest on: which results compete here, the noise model they feed, the next run index.

Paired seeds: the k-th run of a blob on this class (and clock) uses seed k, k = one more than the highest run index
held for that blob by anyone; ``take_index`` hands it out. ``observe`` feeds this node's own competing runs of a
``SwarmView`` into the ``NoiseModel`` by result id (idempotent; peers' runs only move the run index: a liar's number
must not widen the margin or shift the best); a run of this step is held under a pending key until its own Result comes
back through the view. Results of another clock (a wall-clock result beside CPU-seconds ones, e.g. every version-1
result) do not compete under a seconds budget: ``same_clock`` leaves them out of the view.
"""

from __future__ import annotations

from typing import Any, Sequence

from coordinator.decide import competes
from coordinator.noise import NoiseModel
from coordinator.records import RunRecord, SwarmView

__all__ = ["RunBook"]


class RunBook:
    """See the module docstring; ``noise`` is the model it feeds (the Researcher reads margins from it)."""

    def __init__(self, *, noise: NoiseModel, hw_class: str, budget_kind: str, clock: str, author: bytes) -> None:
        self.noise = noise
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
            if r.status == "crash" or r.author != self.author:
                continue  # peers' numbers are hints: a liar's run must not move this node's noise or its best
            self.noise.discard(("pending", r.blob, k))
            self.noise.add(r.blob, r.metric, k, author=r.author, key=s.result_id)

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
