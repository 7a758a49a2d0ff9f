from __future__ import annotations

import math

from coordinator.noise import UNCALIBRATED_MARGIN, NoiseModel


def test_margin_is_floor_or_two_sigma_of_pooled_repeats() -> None:
    noise = NoiseModel(baseline_blob="b", floor=0.002)
    assert noise.std is None and noise.margin == UNCALIBRATED_MARGIN and not noise.calibrated(3)
    for value in (2.40, 2.42, 2.44):
        noise.add("b", value)
    noise.add("c", 2.30)  # a single run is no evidence of noise
    assert noise.calibrated(3)
    assert math.isclose(noise.std or 0.0, 0.02)
    assert math.isclose(noise.margin, 0.04)
    ev = noise.evidence()
    assert (ev.runs, ev.groups, ev.baseline_runs) == (3, 1, 3)


def test_pooled_over_groups_and_floor_wins_when_quiet() -> None:
    noise = NoiseModel(baseline_blob="b", floor=0.002, runs={"b": [2.0, 2.0002], "c": [1.0, 1.0002]})
    assert noise.margin == 0.002
    noise.add("c", float("nan"))
    assert noise.runs_of("c") == [1.0, 1.0002]
