"""The training launch's pacing: progress reports and the budget's stop, both from the batch server's counts.

Nothing here reads what train.py prints: a :class:`Progress` report is made from the batches the server handed out
and the clock read outside the sandbox (:mod:`trainer.cpuclock`), and the stop decides whether the next batch is
served. Also: the device a run trains on (``auto`` resolved here, so that the runner and the harness agree on the
clock), and the RAM cap of the training tree's memory cgroup.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

from trainer.budget import Budget
from trainer.cpuclock import TreeClock
from trainer.limits import TrainLimits

__all__ = ["Progress", "served_progress", "resolve_device", "cgroup_memory_limit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """A progress report (about once a second), made from the batch server's counts and the outside clock."""

    step: int
    tokens: int
    elapsed: float
    budget_fraction: float


def resolve_device(device: str) -> str:
    """The device the harness will train on (``auto``: CUDA, then MPS, then CPU), so that runner and harness agree."""
    if device != "auto":
        return device
    if os.path.exists("/dev/nvidiactl") or sys.platform == "darwin":
        import torch

        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
    return "cpu"


def served_progress(budget: Budget, limits: TrainLimits, clock: TreeClock, launch: dict[str, float],
                     progress: Callable[[Progress], None] | None, start_evaluator: Callable[[Progress], None]
                     ) -> tuple[Callable[[int, int], None], Callable[[int, int, int], bool]]:
    """The batch server's two callbacks: (after each batch: progress reports; before each: is the budget spent?)."""

    def compute_used() -> float:
        if limits.clock == "cpu":
            clock.mark_start()  # asked for a batch: start-up is over
            return clock.budget_used()
        return time.monotonic() - launch.get("at", time.monotonic())

    def fraction(tokens: int) -> float:
        if budget.kind == "tokens":
            return min(1.0, tokens / budget.amount)
        return min(1.0, compute_used() / limits.compute_limit)

    last = {"at": 0.0}

    def served(steps: int, tokens: int) -> None:
        now = time.monotonic()
        if now - last["at"] < 1.0:
            return
        last["at"] = now
        report = Progress(steps, tokens, now - launch.get("at", now), fraction(tokens))
        start_evaluator(report)
        if progress is not None:
            try:
                progress(report)
            except Exception:  # noqa: BLE001 - a broken progress bar must not break the experiment
                log.exception("progress callback failed")

    def spent(_steps: int, tokens: int, next_tokens: int) -> bool:
        used = compute_used()
        if (budget.kind == "tokens" and tokens + next_tokens > budget.amount) or used >= limits.compute_limit:
            clock.mark_stop(used)  # the training window's compute, recorded in the summary (train_compute)
            return True
        return False

    return served, spent


def cgroup_memory_limit() -> int:
    """RAM of a training tree under its memory cgroup (every device: the bound that also holds on GPU runs)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30
    return max(4 << 30, total // 2)
