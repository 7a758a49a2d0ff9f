"""A step's runs: each with its blob's next run index as its seed, up to ``parallel`` of them in flight at once.

A step runs several runs of one train.py: a baseline's repeats, or a candidate's runs k and k+1 (a single run is never
kept, so a candidate whose first run gains needs the second anyway). On a node with several cores these go in flight
together (``parallel``, the node's setting: its usable cores on a CPU node, 1 per GPU device), each one thread under
its own CPU budget, so a step that needs two runs takes the wall time of one. The runs are taken in index order and
recorded in that order whatever order they finish in, so a step's Results are the same sequential or parallel.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Protocol, Sequence

from coordinator.records import RunRecord
from coordinator.runbook import RunBook

__all__ = ["RunLike", "run_wave", "first_wave", "CANDIDATE_FIRST_WAVE"]

CANDIDATE_FIRST_WAVE = 2  # a candidate's runs in flight at once when the node allows it: the two a keep needs


class RunLike(Protocol):
    """The fields of ``trainer.RunSummary`` the loop reads (read-only, so frozen dataclasses qualify)."""

    @property
    def status(self) -> str: ...
    @property
    def val_bpb(self) -> float | None: ...
    @property
    def steps(self) -> int: ...
    @property
    def tokens(self) -> int: ...
    @property
    def wall_seconds(self) -> float: ...
    @property
    def peak_memory_mb(self) -> float: ...
    @property
    def log_tail(self) -> str: ...
    @property
    def reason(self) -> str: ...
    # cpu_seconds: float and clock: str are read with getattr (trainers before CPU budgets have neither)


def first_wave(kind: str, parallel: int, baseline_missing: int) -> list[str]:
    """The action labels of a step's first runs: a baseline's missing repeats, a candidate's first two (one run is
    never kept), as many as ``parallel`` allows (1: one run, and a re-run only when the first gains)."""
    if kind == "baseline":
        return ["baseline"] * max(1, min(parallel, baseline_missing))
    return [kind] + ["rerun"] * (min(max(1, parallel), CANDIDATE_FIRST_WAVE) - 1)


def run_wave(runner: Callable[[str, int], RunLike], book: RunBook, text: str, blob: str, actions: Sequence[str],
             parallel: int, indices: Sequence[int] | None = None) -> list[tuple[RunLike, RunRecord]]:
    """Run ``text`` once per entry of ``actions`` (its action label), at most ``parallel`` at a time: the run indices
    are taken in order (or given: a baseline's missing ones, ``RunBook.baseline_indexes``), and each run is recorded
    (``book.record``) in that order once all have finished."""
    indices = list(indices) if indices is not None else [book.take_index(blob) for _ in actions]
    workers = max(1, min(parallel, len(indices)))
    if workers == 1:
        runs = [runner(text, k) for k in indices]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="swarm-run") as pool:
            runs = list(pool.map(lambda k: runner(text, k), indices))
    return [(run, book.record(run, blob, k, action)) for run, k, action in zip(runs, indices, actions)]
