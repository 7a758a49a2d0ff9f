"""A metric whose direction is ``max`` (accuracy, NDCG@10): the loop keeps a higher score, refutes a peer whose claimed
higher score does not reproduce, adopts an honest one, and publishes the task's own numbers (never the costs)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from coordinator.agents.mutate import MutateAgent
from coordinator.direction import best_of, better, cost, cost_view, shown_outcome
from coordinator.peers import confirms
from coordinator.records import Outcome, SwarmView
from coordinator.researcher import Researcher
from coordinator.simulate import SIM_TRAIN_PY, objective, true_value
from protocol import BudgetRule

from tests.unit.coordinator.make import LIAR, ME, claim, result, seen
from tests.unit.coordinator.test_researcher import BAD, WIDE, Harness, Script

CEILING = 4.0  # accuracy-like score = CEILING - the simulator's loss: higher is better


@dataclass(frozen=True)
class ScoreRun:
    """A RunSummary of a non-lm task: the deciding ``metric`` set, ``val_bpb`` None."""

    status: str
    metric: float | None
    val_bpb: float | None = None
    steps: int = 100
    tokens: int = 100_000
    wall_seconds: float = 60.0
    peak_memory_mb: float = 100.0
    log_tail: str = ""
    reason: str = ""


def score(text: str, seed: int) -> ScoreRun:
    run = objective(text, seed, noise=0.0)
    return ScoreRun(run.status, None if run.val_bpb is None else CEILING - run.val_bpb, reason=run.reason)


def score_of(text: str) -> float:
    value = true_value(text)
    assert value is not None
    return CEILING - value


def maker(h: Harness, agent: object | None = None) -> Researcher:
    return Researcher(workspace=h.ws, agent=agent or MutateAgent(random.Random(5)), runner=score,  # type: ignore
                      hw_class="cpu:2t", budget=BudgetRule("seconds", 60), author=ME,
                      swarm_view=lambda: SwarmView(results=list(h.results), claims=list(h.claims)),
                      fetch_blob=h.texts.get, publish=h.publish,
                      announce_claim=lambda b, t: h.claims.append(claim(author=ME, blob=b, expires_at=t)),
                      policy=h.policy, rng=random.Random(6), clock=lambda: h.now, direction="max",
                      metric_name="accuracy", task_kind="classify")


def test_cost_is_the_metric_or_its_negation() -> None:
    assert cost(0.8, "min") == 0.8 and cost(0.8, "max") == -0.8 and str(cost(0.0, "max")) == "0.0"
    assert better(0.9, 0.8, "max") and better(0.8, 0.9, "min") and not better(0.8, 0.8, "max")
    assert best_of([0.7, 0.9, 0.8], "max") == 0.9 and best_of([], "min") is None
    att, lie = result(metric=0.60), result(metric=0.95)
    assert not confirms(att, lie, 0.01, direction="max") and confirms(att, lie, 0.01)  # min: lower than claimed holds
    assert confirms(result(metric=0.95), result(metric=0.955), 0.01, direction="max")


def test_a_max_metric_keeps_higher_scores_and_publishes_them() -> None:
    h = Harness()
    r = maker(h, Script(BAD, WIDE))
    outs = [r.step() for _ in range(4)]
    assert [o.action for o in outs] == ["baseline", "baseline", "explore", "explore"]
    base = score_of(SIM_TRAIN_PY)
    assert outs[1].best_metric == pytest.approx(base) and r.best_metric() == pytest.approx(score_of(WIDE))
    worse, higher = outs[2], outs[3]
    assert worse.status == "discard" and worse.metric == pytest.approx(score_of(BAD)) and score_of(BAD) < base
    assert higher.status == "keep" and higher.kept and higher.metric == pytest.approx(score_of(WIDE)) and score_of(WIDE) > base
    assert higher.best_metric == pytest.approx(score_of(WIDE)) and h.ws.head_text() == WIDE
    assert all(v > 0 for o in h.published for v in o.runs)  # published in the task's terms, not as costs
    assert [x.metric for x in h.published] == [x.metric for x in outs]
    assert maker(h).best_metric() == pytest.approx(score_of(WIDE))  # resumed from the published results


def test_a_peers_higher_score_that_does_not_reproduce_is_refuted() -> None:
    h = Harness()
    r = maker(h)
    r.step(), r.step()
    lie = h.peer_keep(BAD, 0.99 + CEILING, author=LIAR)  # claims far better than anything; BAD is worse here
    out = r.step()
    assert out.action == "adopt" and out.reproduces == lie.result_id and out.status == "discard"
    assert out.metric == pytest.approx(score_of(BAD)) and len(out.runs) == 2
    assert [c.event for c in out.trust_changes] == ["refuted"] and not r.trust.trusted(LIAR)
    assert not maker(h).trust.trusted(LIAR)  # rebuilt from the records on restart


def test_a_peers_honest_higher_score_is_adopted_and_confirmed() -> None:
    h = Harness()
    r = maker(h)
    r.step(), r.step()
    honest = h.peer_keep(WIDE, score_of(WIDE))
    out = r.step()
    assert out.action == "adopt" and out.reproduces == honest.result_id and out.kept
    assert [c.event for c in out.trust_changes] == ["confirmed"]


def test_a_lower_claim_is_no_candidate_under_max() -> None:
    h = Harness()
    r = maker(h)
    r.step(), r.step()
    h.peer_keep(WIDE, score_of(SIM_TRAIN_PY) - 1.0)  # "kept" but lower than our best: nothing to adopt
    assert r.step().action == "explore"


def test_views_and_outcomes_turn_both_ways() -> None:
    view = SwarmView(results=[seen(result(metric=0.8))])
    flipped = cost_view(view, "max").results[0].result
    assert flipped.metric == -0.8 and flipped.author == view.results[0].result.author
    assert cost_view(view, "min") is view
    o = Outcome(action="explore", commit="", parent="", blob="b", train_py="", metric=-0.8, status="discard",
                hw_class="cpu:2t", steps=1, tokens=1, wall_seconds=1.0, peak_memory_mb=1.0, description="",
                runs=(-0.7, -0.9), best_metric=-0.85)
    back = shown_outcome(o, "max")
    assert (back.metric, back.runs, back.best_metric) == (0.8, (0.7, 0.9), 0.85)
