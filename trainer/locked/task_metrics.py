"""task_metrics: the metrics of the classify and rank tasks (standard library only; the scorer imports it).

- classify: ``accuracy`` (argmax, the first label on a tie), ``macro_f1`` (the mean over every label of the val
  split of its F1; a label never predicted has F1 0), ``cross_entropy`` (mean nats of the true label under the
  softmax of the logits);
- rank: ``ndcg@10`` (binary gains, discount 1 / log2(1 + rank), divided by the ideal DCG of the row's relevant
  count) and ``mrr`` (1 / the rank of the first relevant candidate), averaged over rows. Ties in score rank a
  relevant candidate AFTER the irrelevant ones it ties with: a constant model scores what the worst order would.
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["classify_metrics", "rank_metrics", "ranks_of", "NDCG_AT"]

NDCG_AT = 10


def _log_softmax(row: Sequence[float]) -> list[float]:
    top = max(row)
    total = math.log(sum(math.exp(v - top) for v in row)) + top
    return [v - total for v in row]


def classify_metrics(logits: Sequence[Sequence[float]], labels: Sequence[int], n_labels: int) -> dict[str, float]:
    """accuracy, macro_f1, cross_entropy of ``logits`` [N][n_labels] against the true label ids ``labels`` [N]."""
    if not labels or len(logits) != len(labels):
        raise ValueError("need one logits row per label")
    correct = 0
    nats = 0.0
    tp = [0] * n_labels
    predicted = [0] * n_labels
    actual = [0] * n_labels
    for row, label in zip(logits, labels):
        guess = max(range(n_labels), key=lambda i: (row[i], -i))
        predicted[guess] += 1
        actual[label] += 1
        if guess == label:
            correct += 1
            tp[label] += 1
        nats -= _log_softmax(row)[label]
    f1s = []
    for i in range(n_labels):
        if actual[i] == 0:
            continue  # a label absent from the val split is not averaged (the data check forbids it anyway)
        f1s.append(2 * tp[i] / (predicted[i] + actual[i]))
    return {"accuracy": correct / len(labels), "macro_f1": sum(f1s) / len(f1s), "cross_entropy": nats / len(labels)}


def ranks_of(scores: Sequence[float], relevant: set[int]) -> list[int]:
    """The 1-based rank of each relevant candidate, ties broken against it (relevant after equal irrelevant)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i in relevant, i))
    return [pos + 1 for pos, i in enumerate(order) if i in relevant]


def rank_metrics(rows: Sequence[tuple[Sequence[float], set[int]]]) -> dict[str, float]:
    """ndcg@10 and mrr over ``rows`` of (score per candidate, indexes of the relevant candidates)."""
    if not rows:
        raise ValueError("need at least one row")
    ndcg = 0.0
    mrr = 0.0
    for scores, relevant in rows:
        ranks = ranks_of(scores, relevant)
        dcg = sum(1.0 / math.log2(1 + r) for r in ranks if r <= NDCG_AT)
        ideal = sum(1.0 / math.log2(1 + r) for r in range(1, min(len(relevant), NDCG_AT) + 1))
        ndcg += dcg / ideal
        mrr += 1.0 / min(ranks)
    return {"ndcg@10": ndcg / len(rows), "mrr": mrr / len(rows)}
