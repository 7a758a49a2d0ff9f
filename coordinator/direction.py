"""Which way a swarm's metric is better, and the cost space the decisions work in.

The keep rule, the noise margins, adopt/verify/refute, stacking, the trust book and the studies all reason about a
*cost*: lower is better. For a metric whose direction is ``min`` (val_bpb, cross-entropy) the cost is the metric; for
``max`` (accuracy, macro-F1, NDCG@10, MRR) it is the metric negated. Differences and margins keep their size, so every
rule written for "lower is better" holds for both directions unchanged.

The ``Researcher`` turns what comes in into costs (the swarm view's results, each run's score) and what goes out back
into metrics (the Outcome and its runs), so the published numbers are always the task's own. node/ gives the direction
as a plain value (``Manifest.metric_direction``); the coordinator never imports the trainer.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal

from coordinator.records import Outcome, SeenResult, SwarmView

__all__ = ["Direction", "DIRECTIONS", "cost", "shown", "better", "best_of", "sort_key", "cost_view", "CostRun",
           "shown_outcome", "check_direction"]

Direction = Literal["min", "max"]
DIRECTIONS = ("min", "max")


def check_direction(direction: str) -> Direction:
    """``direction`` when it is "min" or "max"; ValueError otherwise."""
    if direction not in DIRECTIONS:
        raise ValueError(f"a metric's direction is 'min' or 'max', not {direction!r:.40}")
    return direction  # type: ignore[return-value]


def cost(metric: float, direction: str) -> float:
    """The metric as a cost (lower is better): itself for ``min``, negated for ``max`` (never -0.0)."""
    return metric if direction == "min" else 0.0 - metric


shown = cost
"""The metric of a cost (negation is its own inverse): ``shown(cost(m, d), d) == m``."""


def better(a: float, b: float, direction: str) -> bool:
    """Whether metric ``a`` is strictly better than metric ``b``."""
    return cost(a, direction) < cost(b, direction)


def sort_key(direction: str) -> Callable[[float], float]:
    """A sort key that puts the best metric first."""
    return lambda metric: cost(metric, direction)


def best_of(metrics: Any, direction: str) -> float | None:
    """The best of ``metrics`` (None for none)."""
    values = list(metrics)
    return min(values, key=sort_key(direction)) if values else None


class _CostResult:
    """A result whose ``metric`` reads as its cost; every other field is the result's own."""

    __slots__ = ("_result", "metric")

    def __init__(self, result: Any, direction: str) -> None:
        self._result = result
        self.metric = cost(float(result.metric), direction)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)


def cost_view(view: SwarmView, direction: str) -> SwarmView:
    """The view with every result's metric as a cost (the same view for ``min``)."""
    if direction == "min":
        return view
    results = [SeenResult(s.result_id, _CostResult(s.result, direction)) for s in view.results]
    return SwarmView(results=results, claims=view.claims, invalid=view.invalid)


class CostRun:
    """A run summary whose ``val_bpb`` (what the coordinator reads as the run's score) is the cost of its deciding
    metric: ``RunSummary.metric`` where the trainer gives it (every task), else its ``val_bpb`` (lm, older trainers)."""

    def __init__(self, run: Any, direction: str) -> None:
        self._run = run
        metric = getattr(run, "metric", None)
        score = metric if metric is not None else getattr(run, "val_bpb", None)
        self.val_bpb = None if score is None else cost(float(score), direction)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)


def shown_outcome(outcome: Outcome, direction: str) -> Outcome:
    """An Outcome of costs with its metrics back in the task's own terms (the same Outcome for ``min``)."""
    if direction == "min":
        return outcome
    records = tuple(dataclasses.replace(r, metric=shown(r.metric, direction) if r.status != "crash" else 0.0)
                    for r in outcome.records)
    return dataclasses.replace(
        outcome, metric=shown(outcome.metric, direction) if outcome.runs else 0.0,
        runs=tuple(shown(v, direction) for v in outcome.runs),
        best_metric=None if outcome.best_metric is None else shown(outcome.best_metric, direction), records=records)
