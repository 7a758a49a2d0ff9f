from __future__ import annotations

from coordinator.decide import comparable, decide


def test_clear_gain_keeps_and_loss_discards() -> None:
    assert decide([2.30], best=2.40, margin=0.02).verdict == "keep"
    assert decide([2.45], best=2.40, margin=0.02).verdict == "discard"


def test_gain_within_margin_is_rerun_then_judged_on_the_mean() -> None:
    first = decide([2.39], best=2.40, margin=0.02)
    assert first.verdict == "rerun" and "within margin" in first.reason
    assert decide([2.39, 2.385], best=2.40, margin=0.02).verdict == "keep"  # mean gains 0.0125 > 0.01
    assert decide([2.39, 2.405], best=2.40, margin=0.02).verdict == "discard"


def test_time_budget_compares_within_class_token_budget_across() -> None:
    assert comparable("cpu:2t", "seconds", "cpu:2t") and not comparable("cuda:H100", "seconds", "cpu:2t")
    assert comparable("cuda:H100", "tokens", "cpu:2t")
