"""What a budget means per clock: where data stops, where the tree is killed, the token budget's compute ceiling."""

from __future__ import annotations

import pytest

from trainer import Budget
from trainer.limits import (CEILING_STARTUP, TOKENS_PER_CPU_SECOND_FLOOR, ceiling_from_baseline, clock_for,
                            cpu_grace, runs_in_flight, train_limits)


def test_a_cpu_budget_is_cpu_seconds_of_the_training_threads() -> None:
    limits = train_limits(Budget.parse("60s"), clock="cpu", threads=2, wall_margin=21.0)
    assert limits.clock == "cpu" and limits.compute_limit == 120.0
    assert limits.kill_at == 120.0 + cpu_grace(120.0) and cpu_grace(120.0) == pytest.approx(9.0)
    assert limits.rlimit_cpu > limits.kill_at  # the per-process backstop comes after the tree's kill
    assert limits.wall_timeout > 60.0 * 4  # the wall kill is only a generous safety net
    # ... that waiting for a CPU moves back (a busy machine), and the evaluator waits for as long as it can be moved
    assert limits.wall_stretch > 0 and limits.longest_wall == limits.wall_timeout * (1 + limits.wall_stretch)


def test_a_device_budget_is_wall_time() -> None:
    limits = train_limits(Budget.parse("60s"), clock="wall", threads=8, wall_margin=21.0)
    assert (limits.clock, limits.compute_limit, limits.kill_at, limits.wall_timeout) == ("wall", 60.0, None, 81.0)
    assert limits.wall_stretch == 0 and limits.longest_wall == 81.0  # on a device the wall IS the budget
    assert clock_for("cpu") == "cpu" and clock_for("cuda") == clock_for("mps") == "wall"


def test_a_token_budget_has_a_compute_ceiling() -> None:
    default = train_limits(Budget.parse("2M-tokens"), clock="cpu", threads=1, wall_margin=60.0)
    assert default.compute_limit == 2_000_000 / TOKENS_PER_CPU_SECOND_FLOOR + CEILING_STARTUP
    stated = train_limits(Budget.parse("2M-tokens"), clock="cpu", threads=1, wall_margin=60.0,
                          compute_ceiling=ceiling_from_baseline(140.0))
    assert stated.compute_limit == 420.0 and stated.kill_at == 420.0 + cpu_grace(420.0)
    with pytest.raises(ValueError):
        train_limits(Budget.parse("2M-tokens"), clock="cpu", threads=1, wall_margin=60.0, compute_ceiling=-1.0)
    with pytest.raises(ValueError):
        ceiling_from_baseline(float("nan"))


def test_runs_in_flight_one_per_core_on_cpu_one_per_gpu() -> None:
    assert runs_in_flight("cpu", cores=2) == 2 and runs_in_flight("cpu", cores=16) == 16
    assert runs_in_flight("cuda", cores=16) == runs_in_flight("mps", cores=8) == 1
    assert runs_in_flight("cpu", 1, cores=16) == 1 and runs_in_flight("cuda", 3) == 3  # the setting wins
    assert runs_in_flight("cpu") >= 1
