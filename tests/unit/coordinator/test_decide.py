from __future__ import annotations

import pytest

from coordinator.decide import comparable, competes, decide, decide_runs
from tests.unit.coordinator.make import result


def test_one_run_is_never_kept_a_gain_is_rerun_and_a_loss_discarded() -> None:
    first = decide([2.30], best=2.40, margin=0.02)
    assert first.verdict == "rerun" and "next seed" in first.reason
    assert decide([2.39], best=2.40, margin=0.02).verdict == "rerun"
    assert decide([2.45], best=2.40, margin=0.02).verdict == "discard"


def test_two_runs_are_judged_on_the_mean_against_two_sigmas_of_the_mean() -> None:
    assert decide([2.39, 2.385], best=2.40, margin=0.02).verdict == "discard"  # 0.0125 <= 0.02 / sqrt 2
    assert decide([2.39, 2.39], best=2.40, margin=0.02).verdict == "discard"  # 0.010 <= 0.02 / sqrt 2
    assert decide([2.38, 2.385], best=2.40, margin=0.02).verdict == "keep"  # 0.0175 > 0.0141


def test_paired_runs_compare_run_k_with_the_best_run_k() -> None:
    best = {0: 2.40, 1: 2.46}  # seed 1 is a hard seed for every train.py
    cand = {0: 2.395, 1: 2.455}  # 0.005 better on each seed
    paired = decide_runs(cand, best, margin=0.06, paired_margin=0.004)
    assert paired.verdict == "keep" and paired.paired
    bound = decide_runs(cand, best, margin=0.006, paired_margin=None)  # before paired noise: sqrt 2 * margin
    assert bound.paired and bound.margin == pytest.approx(0.006 * 2 ** 0.5) and bound.verdict == "discard"
    unpaired = decide_runs({0: 2.395, 2: 2.455}, best, margin=0.06, paired_margin=0.004)  # no run 2 of the best
    assert unpaired.verdict == "discard" and not unpaired.paired
    missing = decide_runs({2: 2.40}, best, margin=0.06, paired_margin=0.004)  # the best has no run 2: its mean
    assert not missing.paired and missing.verdict == "rerun"


def test_time_budget_compares_within_class_token_budget_across() -> None:
    assert comparable("cpu:2t", "seconds", "cpu:2t") and not comparable("cuda:H100", "seconds", "cpu:2t")
    assert comparable("cuda:H100", "tokens", "cpu:2t")


def test_a_wall_clock_result_competes_only_with_wall_clock_results() -> None:
    old = result(hw_class="cpu:2t")  # clock "wall", as every version-1 result decodes
    assert competes(old, hw_class="cpu:2t", budget_kind="seconds", clock="wall")
    assert not competes(old, hw_class="cpu:2t", budget_kind="seconds", clock="cpu")
    assert competes(old, hw_class="cpu:AMD-EPYC:2t", budget_kind="tokens", clock="cpu")
