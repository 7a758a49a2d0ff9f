from __future__ import annotations

from coordinator.plan import Tally, plan_next, share_allows
from coordinator.records import Action, Policy


def act(kind: str) -> Action:
    return Action(kind=kind, train_py="", description=kind)  # type: ignore[arg-type]


def test_share_allows_about_one_in_five() -> None:
    assert share_allows(0, 0, 0.2)
    assert not share_allows(1, 3, 0.2) and share_allows(1, 5, 0.2)
    allowed = 0
    for n in range(100):
        if share_allows(allowed, n, 0.2):
            allowed += 1
    assert allowed == 20


def test_order_baseline_then_adopt_stack_explore() -> None:
    pol = Policy()
    kw = dict(baseline=lambda: act("baseline"), adopt=lambda: act("adopt"), stack=lambda: act("stack"),
              explore=lambda: act("explore"))
    assert plan_next(calibrated=False, tally=Tally(), policy=pol, **kw).kind == "baseline"
    assert plan_next(calibrated=True, tally=Tally(10, 0, 0), policy=pol, **kw).kind == "adopt"
    assert plan_next(calibrated=True, tally=Tally(10, 5, 0), policy=pol, **kw).kind == "stack"
    assert plan_next(calibrated=True, tally=Tally(10, 5, 5), policy=pol, **kw).kind == "explore"
    nothing = dict(kw, explore=lambda: None)
    assert plan_next(calibrated=True, tally=Tally(10, 5, 5), policy=pol, **nothing).kind == "stack"
