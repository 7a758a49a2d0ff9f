"""What the next experiment is: baseline, adopt (verify a peer's claim), stack (merge two improvements) or explore.

Order: calibrate the noise first (baseline repeats); then a peer's better claim or a merge when their share of the
node's experiments allows (``verify_share`` / ``stack_share``, about one in five each by default, so a flood of claims
cannot stall the node's own research); else the agent explores. When the agent has nothing new, a merge or a check is
tried regardless of its share, and as a last resort the base is measured again (more noise evidence, never wasted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from coordinator.records import Action, Policy, SeenResult, SwarmView
from coordinator.trust import TrustBook

__all__ = ["Tally", "share_allows", "plan_next", "replay"]


@dataclass(frozen=True)
class Tally:
    """This node's experiments so far (baseline runs not counted) and how many were adopts and stacks."""

    experiments: int = 0
    adopts: int = 0
    stacks: int = 0


def replay(mine: Sequence[SeenResult], view: SwarmView, *, author: bytes, trust: TrustBook, margin: float) -> Tally:
    """A restarted node's tally from its own results (baseline runs and re-runs not counted), and the trust its adopts
    earned: a crash or a run worse than the claim by more than ``margin`` refutes the claimer, else confirms."""
    experiments = adopts = stacks = 0
    by_id = {s.result_id: s.result for s in view.results}
    for s in mine:
        r = s.result
        if r.action in ("baseline", "rerun"):
            continue
        experiments += 1
        if r.reproduces:
            adopts += 1
            claim = by_id.get(r.reproduces)
            if claim is not None and claim.author != author:
                if r.status == "crash" or r.metric > claim.metric + margin:
                    trust.refute(claim.author)
                else:
                    trust.confirm(claim.author)
        elif r.action == "stack":
            stacks += 1
    return Tally(experiments, adopts, stacks)


def share_allows(done: int, experiments: int, share: float) -> bool:
    """True when one more of a kind keeps it within ``share`` of the experiments (the first one is allowed early)."""
    return done < share * (experiments + 1)


def plan_next(*, calibrated: bool, tally: Tally, policy: Policy, baseline: Callable[[], Action],
              adopt: Callable[[], Action | None], stack: Callable[[], Action | None],
              explore: Callable[[], Action | None]) -> Action:
    """The next action; the builders are called lazily, in the order above, until one offers something."""
    if not calibrated:
        return baseline()
    if share_allows(tally.adopts, tally.experiments, policy.verify_share):
        action = adopt()
        if action is not None:
            return action
    if share_allows(tally.stacks, tally.experiments, policy.stack_share):
        action = stack()
        if action is not None:
            return action
    action = explore()
    if action is not None:
        return action
    return stack() or adopt() or baseline()
