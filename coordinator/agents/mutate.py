"""The ``mutate`` agent: one knob step per proposal, chosen by a bandit over (knob, direction) that learns what paid.

Needs no model. Each arm is a (knob, direction) pair; its record is the kept/discarded history of results whose
description names that change (own and peers', recent ones weigh more). Thompson sampling over Beta posteriors picks the
arm; a proposal whose blob is already taken (scored or claimed in the swarm) is skipped for the next arm.
"""

from __future__ import annotations

import logging
import random
from typing import Sequence

from coordinator.errors import AgentError, KnobError
from coordinator.knobs import Direction, Knob, describe, parse_change, read_knobs, rewrite, step_knob
from coordinator.records import HistoryItem, Proposal, ProposalContext
from coordinator.workspace import blob_hash

__all__ = ["MutateAgent", "arm_stats"]

log = logging.getLogger(__name__)

# Beta prior of an untried arm (uniform: the simulator found a pessimistic prior explores too little).
PRIOR_WINS, PRIOR_LOSSES = 1.0, 1.0
DIRECTIONS: tuple[Direction, ...] = ("up", "down", "flip", "next")
LEARN_FROM = ("explore", "unknown")
"""The results' actions the bandit learns from (the action field, never the description): new ideas, and results
whose action is not known; re-runs, baselines, adopts and stacks would count one idea twice or not at all."""


def arm_stats(history: Sequence[HistoryItem], decay: float = 0.97) -> dict[tuple[str, str], tuple[float, float]]:
    """Per (knob, direction): recency-weighted (kept, not kept) counts from descriptions (oldest first in history)."""
    stats: dict[tuple[str, str], tuple[float, float]] = {}
    n = len(history)
    for i, item in enumerate(history):
        if item.action not in LEARN_FROM:
            continue
        change = parse_change(item.description)
        if change is None:
            continue
        weight = decay ** (n - 1 - i)
        wins, losses = stats.get(change, (0.0, 0.0))
        if item.status == "keep":
            wins += weight
        else:
            losses += weight
        stats[change] = (wins, losses)
    return stats


class MutateAgent:
    """Knob mutations, learned from history; deterministic for a given ``rng``."""

    name = "mutate"

    def __init__(self, rng: random.Random | None = None, decay: float = 0.97) -> None:
        self.rng = rng or random.Random()
        self.decay = decay

    def propose(self, context: ProposalContext) -> Proposal:
        try:
            knobs = read_knobs(context.train_py)
        except KnobError as exc:
            raise AgentError(str(exc)) from exc
        stats = arm_stats(context.history, self.decay)
        scored: list[tuple[float, Knob, Direction, int | float | bool | str]] = []
        for knob in knobs:
            for direction in DIRECTIONS:
                value = step_knob(knob, direction)
                if value is None:
                    continue
                wins, losses = stats.get((knob.name, direction), (0.0, 0.0))
                scored.append((self.rng.betavariate(PRIOR_WINS + wins, PRIOR_LOSSES + losses), knob, direction, value))
        scored.sort(key=lambda item: -item[0])
        for _, knob, direction, value in scored:
            text = rewrite(context.train_py, knob, value)
            if blob_hash(text) in context.taken:
                continue
            return Proposal(train_py=text, description=describe(knob, value), agent=self.name)
        # Every one-knob neighbour is taken (scored or claimed in the swarm): step two knobs at once.
        pairs = [(a[0] + b[0], a, b) for i, a in enumerate(scored) for b in scored[i + 1:] if a[1].line != b[1].line]
        pairs.sort(key=lambda item: -item[0])
        for _, (_, ka, _, va), (_, kb, _, vb) in pairs:
            text = rewrite(rewrite(context.train_py, ka, va), kb, vb)
            if blob_hash(text) in context.taken:
                continue
            return Proposal(train_py=text, description=f"{describe(ka, va)}; {describe(kb, vb)}", agent=self.name)
        raise AgentError(f"no untaken change of one or two knobs left among {len(scored)} arms")
