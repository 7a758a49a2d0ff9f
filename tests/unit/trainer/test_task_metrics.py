"""The classify and rank metrics against values computed by hand."""

from __future__ import annotations

import math

import pytest

from trainer.locked.task_metrics import classify_metrics, rank_metrics, ranks_of


def test_classify_metrics_by_hand() -> None:
    # true: 0 0 1 2; predicted: 0 1 1 1 -> accuracy 2/4; F1: label 0: 2*1/(1+2) = 2/3, label 1: 2*1/(3+1) = 1/2,
    # label 2: 0 -> macro 7/18; cross-entropy: row logits [0, 0, 0] have p = 1/3 everywhere.
    logits = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    got = classify_metrics(logits, [0, 0, 1, 2], 3)
    assert got["accuracy"] == 0.5
    assert got["macro_f1"] == pytest.approx(7 / 18)
    e = math.e
    p_hit, p_miss = e / (e + 2), 1 / (e + 2)
    assert got["cross_entropy"] == pytest.approx(-(math.log(p_hit) * 2 + math.log(p_miss) * 2) / 4)
    uniform = classify_metrics([[0.0, 0.0]] * 2, [1, 1], 2)
    assert uniform["accuracy"] == 0.0 and uniform["cross_entropy"] == pytest.approx(math.log(2))  # tie: first label


def test_rank_metrics_by_hand_and_ties_rank_the_relevant_last() -> None:
    # row 1: relevant {1} ranked 2nd -> ndcg 1/log2(3), rr 1/2; row 2: relevant {0, 2} ranked 2nd and 3rd ->
    # dcg 1/log2(3) + 1/log2(4), ideal 1 + 1/log2(3); rr 1/2 (the order is 3, 0, 2, 1).
    rows = [([0.9, 0.5, 0.1], {1}), ([0.9, 0.1, 0.8, 0.95], {0, 2})]
    got = rank_metrics(rows)
    ndcg2 = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert got["ndcg@10"] == pytest.approx((1 / math.log2(3) + ndcg2) / 2)
    assert got["mrr"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert ranks_of([1.0, 1.0, 1.0], {0}) == [3]  # a constant model gets the worst order
    assert rank_metrics([([0.0] * 20, {5})]) == {"ndcg@10": 0.0, "mrr": 1 / 20}
    assert rank_metrics([([float(-i) for i in range(12)], {11})])["ndcg@10"] == 0.0  # rank 12: past the cut
