"""What a budget means for one training run: which clock counts, when data stops, when the tree is killed.

=========================  ===============================================  ===========================================
budget / device            data stops (batch server)                        the tree is killed (outside train.py)
=========================  ===============================================  ===========================================
``60s`` on CPU (clock cpu) the tree has used ``60 x threads`` CPU-seconds   ``+ cpu_grace`` CPU-s; RLIMIT_CPU per
                           after its start-up                               process one second later; wall safety net
``60s`` on CUDA / MPS      60 s of wall time since launch (the device's)    ``+ wall_margin`` s of wall time
``2M-tokens``              2M tokens served, or the compute ceiling         ceiling ``+ grace``; wall safety net
=========================  ===============================================  ===========================================

On the cpu clock the budget starts with the first batch served: the start-up before it (interpreter, imports, model
build: 2-4 CPU-seconds here, varying from run to run by up to a second under load) is not charged, up to
:data:`STARTUP_CPU_CAP` CPU-seconds (past that the budget runs anyway). So no tree gets more than
``STARTUP_CPU_CAP + budget + cpu_grace`` CPU-seconds in all, whatever it does. On the wall clock the time of a run starts at
the launch of its sandbox, start-up included.
On CPU one experiment trains on :data:`CPU_CLOCK_THREADS` thread: measured here, one thread's steps per CPU-second are
the same alone and beside competing loads, while two threads lose a third of theirs beside them (a descheduled
thread's partner spins or waits); a node with more cores runs more experiments side by side instead.

A token-budget run has a compute ceiling (CPU-seconds on the cpu clock, wall seconds on a device), so "the whole swarm
competes" never means "whoever spends the most compute wins": by default ``tokens / TOKENS_PER_CPU_SECOND_FLOOR``
plus start-up; a node that knows its baseline's use passes :func:`ceiling_from_baseline` (a stated multiple of it).
Either way the ceiling is recorded in the run's summary.

The wall safety net on the cpu clock is for a tree that stops using its CPU (sleeps, blocks): the time it spent
runnable but waiting for a CPU (a laptop busy with other work, other nodes' runs) does not count towards it, up to
:data:`WALL_STRETCH` times the net (``TrainLimits.longest_wall``; see :mod:`trainer.sandbox_io`). Measured in the
two-node efficacy bench beside other work (load average ~20 on 2 cores), honest 60 s runs took 372 s of wall time
and were killed at the unstretched net of 371 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from trainer.budget import Budget

__all__ = ["Clock", "TrainLimits", "train_limits", "cpu_grace", "ceiling_from_baseline", "clock_for",
           "CPU_CLOCK_THREADS", "STARTUP_CPU_CAP", "TOKENS_PER_CPU_SECOND_FLOOR", "CEILING_MULTIPLE", "WALL_SAFETY",
           "WALL_STRETCH", "runs_in_flight"]

Clock = Literal["cpu", "wall"]

CPU_CLOCK_THREADS = 1
STARTUP_CPU_CAP = 10.0  # CPU-seconds of start-up before the first batch that are not charged to a cpu budget
TOKENS_PER_CPU_SECOND_FLOOR = 4000.0  # default ceiling: the default train.py does ~14k tokens per CPU-second here
CEILING_STARTUP = 20.0  # CPU-seconds of start-up (imports, model build, export) inside a token ceiling
CEILING_MULTIPLE = 3.0  # ceiling_from_baseline: this many times the baseline's own use on the same class
WALL_SAFETY = 5.0  # on the cpu clock, the wall kill comes at this many times the budget's wall time at full use
WALL_STRETCH = 9.0  # on the cpu clock, time spent waiting for a CPU moves the wall kill back, up to this many times it


def clock_for(device: str) -> Clock:
    """``cpu`` on a CPU device (budgets are work), ``wall`` on CUDA and MPS (device wall time)."""
    return "cpu" if device == "cpu" else "wall"


def runs_in_flight(device: str, configured: int = 0, cores: int | None = None) -> int:
    """How many runs of one step a node trains at once: ``configured`` when set (> 0), else one per usable core on a
    CPU device (each run trains on :data:`CPU_CLOCK_THREADS` thread under its own CPU budget) and 1 on CUDA/MPS (one
    experiment per device at a time; the node trains on one device)."""
    if configured > 0:
        return configured
    if device != "cpu":
        return 1
    if cores is None:
        from trainer.hardware import cpu_threads

        cores = cpu_threads()
    return max(1, cores // CPU_CLOCK_THREADS)


def cpu_grace(limit: float) -> float:
    """CPU-seconds past the limit before the kill: export, the hand-over, the interpreter's exit."""
    return 3.0 + 0.05 * limit


def ceiling_from_baseline(baseline_compute: float, multiple: float = CEILING_MULTIPLE) -> float:
    """A token-budget ceiling: ``multiple`` times what the baseline used (CPU-seconds or device seconds)."""
    if not math.isfinite(baseline_compute) or baseline_compute <= 0 or multiple <= 0:
        raise ValueError(f"baseline compute {baseline_compute!r} and multiple {multiple!r} must be positive")
    return baseline_compute * multiple


@dataclass(frozen=True)
class TrainLimits:
    """The numbers one run is held to (all recorded or derived from the summary's fields)."""

    clock: Clock
    threads: int
    compute_limit: float  # data stops here: CPU-seconds (cpu clock) or wall seconds (wall clock)
    kill_at: float | None  # CPU-seconds charged to the budget at which the supervisor kills the tree (cpu clock)
    wall_timeout: float  # the wall-clock kill (the limit itself on the wall clock, a safety net on the cpu clock)
    rlimit_cpu: int  # RLIMIT_CPU of each process: the backstop
    startup_cap: float = 0.0  # cpu clock: CPU-seconds of start-up not charged (a tree never asking for data: all)
    wall_stretch: float = 0.0  # cpu clock: waiting for a CPU does not count towards wall_timeout, up to this multiple

    @property
    def longest_wall(self) -> float:
        """The latest the training sandbox can end (the wall kill, stretched as far as it may be)."""
        return self.wall_timeout * (1.0 + self.wall_stretch)


def train_limits(budget: Budget, *, clock: Clock, threads: int, wall_margin: float,
                 compute_ceiling: float | None = None) -> TrainLimits:
    """The limits of one run under ``budget`` (``compute_ceiling`` only matters for token budgets)."""
    threads = max(1, threads)
    if budget.kind == "seconds":
        limit = float(budget.amount * threads) if clock == "cpu" else float(budget.amount)
    elif compute_ceiling is not None:
        if not math.isfinite(compute_ceiling) or compute_ceiling <= 0:
            raise ValueError(f"compute ceiling must be a positive number of seconds, not {compute_ceiling!r}")
        limit = float(compute_ceiling)
    else:
        limit = budget.amount / TOKENS_PER_CPU_SECOND_FLOOR + CEILING_STARTUP
    if clock == "cpu":
        kill_at = limit + cpu_grace(limit)
        cap = STARTUP_CPU_CAP
        wall = (limit / threads + cap) * WALL_SAFETY + wall_margin
        return TrainLimits("cpu", threads, limit, kill_at, wall, int(math.ceil(kill_at + cap)) + 1, cap, WALL_STRETCH)
    wall = limit + wall_margin
    return TrainLimits("wall", threads, limit, None, wall, int(wall * threads * 2 + 60))
