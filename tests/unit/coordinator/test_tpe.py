"""The ``tpe`` agent: whole configurations from TPE over everyone's trials, pending claims as constant liars."""

from __future__ import annotations

import math
import random
import statistics
from typing import Callable

from coordinator.agents.base import Agent
from coordinator.agents.mutate import MutateAgent
from coordinator.agents.tpe import PREFIX, TPEAgent
from coordinator.branch import apply_values, branch_key, knob_values
from coordinator.records import ProposalContext, ScoredText
from coordinator.simulate import SIM_TRAIN_PY, SimSwarm, objective, true_value
from coordinator.space import Param
from coordinator.study import Study
from coordinator.workspace import blob_hash

def peer_trials(n: int, seed: int) -> list[ScoredText]:
    """A peer's ``n`` finished trials: random configurations around the baseline, scored by the simulator."""
    rng = random.Random(seed)
    base = knob_values(SIM_TRAIN_PY)
    out = []
    for i in range(n):
        values = {"LEARNING_RATE": rng.choice([1e-3, 2e-3, 4e-3, 8e-3, 1.2e-2, 2e-2]),
                  "N_EMBD": rng.choice([64, 128, 256]), "ACTIVATION": rng.choice(["gelu", "relu2", "swiglu"]),
                  "N_LAYER": rng.choice([1, 2, 4]), "BATCH_SIZE": base["BATCH_SIZE"]}
        text = apply_values(SIM_TRAIN_PY, values)
        run = objective(text, i)
        out.append(ScoredText(text, run.val_bpb or 0.0, "discard" if run.val_bpb else "crash", mine=False))
    return out


def context(scored: list[ScoredText], taken: frozenset[str] = frozenset()) -> ProposalContext:
    return ProposalContext(program="", train_py=SIM_TRAIN_PY, best_metric=2.29, scored=scored, taken=taken)


def changed(text: str) -> list[str]:
    return [k for k, v in knob_values(text).items() if v != knob_values(SIM_TRAIN_PY)[k]]


def test_proposes_whole_configurations_of_the_same_branch() -> None:
    whole = TPEAgent(random.Random(1), subset=(0, 0), local=False).propose(context([]))
    assert len(changed(whole.train_py)) >= 6, changed(whole.train_py)    # every tuned knob sampled at once
    proposal = TPEAgent(random.Random(1)).propose(context([]))
    assert 1 <= len(changed(proposal.train_py)) <= 2                      # default: 1-2 knobs near the incumbent
    assert proposal.description.startswith(PREFIX) and proposal.agent == "tpe"
    assert branch_key(proposal.train_py) == branch_key(SIM_TRAIN_PY)      # knobs only: the same study branch
    again = TPEAgent(random.Random(1)).propose(context([]))
    assert again.train_py == proposal.train_py                            # deterministic for a given rng


NEAR_OPTIMUM = 2.20   # the simulator's floor is 2.15 and the baseline 2.44: within 0.05 bpb of the optimum
CAP = 75


def trials_to_near_optimum(agent: Callable[[random.Random], Agent], seed: int) -> int:
    """Experiments (baseline runs included) until one node's kept HEAD is truly near the optimum; CAP + 1 if never."""
    swarm = SimSwarm(1, seed=seed, agent=agent)
    researcher = swarm.nodes[0].researcher
    assert researcher is not None
    for trial in range(1, CAP + 1):
        researcher.step()
        value = true_value(researcher.head_text)
        if value is not None and value <= NEAR_OPTIMUM:
            return trial
    return CAP + 1


def test_tpe_finds_the_optimum_in_fewer_trials_than_mutate() -> None:
    # seeds 0-7, the first eight (not picked); the noise is the simulator's default (a run's own 0.005 bpb). Four
    # seeds were too few: once tpe stepped either way from the incumbent (it stepped up, and the simulator's size
    # optima are all up), seeds 0-3 reached 2 of 4; over seeds 0-11 that tpe reached 8 (median 54 trials), the
    # always-up one 7 (62.5) and mutate 4 (76)
    tpe = [trials_to_near_optimum(TPEAgent, seed) for seed in range(8)]
    mutate = [trials_to_near_optimum(MutateAgent, seed) for seed in range(8)]
    reached = (sum(t <= CAP for t in tpe), sum(m <= CAP for m in mutate))
    assert reached[0] >= 4 and reached[0] > reached[1], (tpe, mutate)
    assert statistics.median(tpe) < statistics.median(mutate), (tpe, mutate)


def distance(a: str, b: str, space: dict[str, Param]) -> float:
    """Distance of two configurations in the study's unit cube (log axes for log knobs, 1 per differing choice)."""
    total = 0.0
    va, vb = knob_values(a), knob_values(b)
    for name, p in space.items():
        x, y = p.internal(va[name]), p.internal(vb[name])
        if p.kind == "choice":
            total += x != y
            continue
        lo, hi = p.low, p.high
        if p.log:
            x, y, lo, hi = (math.log(float(v)) for v in (x, y, lo, hi))  # type: ignore[arg-type]
        total += abs(float(x) - float(y)) / (hi - lo)  # type: ignore[arg-type]
    return total


def test_a_node_that_only_watches_a_peer_proposes_near_the_peers_best() -> None:
    trials = peer_trials(40, seed=3)
    best = min((t for t in trials if t.status != "crash"), key=lambda t: t.metric).train_py
    agent = TPEAgent(random.Random(5))
    watched = [agent.propose(context(trials)).train_py for _ in range(6)]      # the peer's results as its trials
    blind = [TPEAgent(random.Random(s)).propose(context([])).train_py for s in range(6)]
    assert agent.last_study is not None
    space = agent.last_study.space
    near, far = (statistics.median(distance(t, best, space) for t in group) for group in (watched, blind))
    assert near < far / 2, (near, far)
    value = statistics.median(true_value(t) or 9.0 for t in watched)
    assert value < statistics.median(true_value(t) or 9.0 for t in blind)


def test_two_nodes_asking_at_once_with_each_others_claims_get_different_configurations() -> None:
    trials = peer_trials(20, seed=4)
    first = TPEAgent(random.Random(9)).propose(context(trials))
    # the same node state and seed, without the claim, would propose the very same configuration...
    assert TPEAgent(random.Random(9)).propose(context(trials)).train_py == first.train_py
    # ...but the loop hands over the first's claim: a pending trial (its text served by the claimer) that TPE's liar
    # counts as bad, and a taken blob that is never proposed; the second node samples elsewhere
    pending = ScoredText(first.train_py, 0.0, "pending")
    agent = TPEAgent(random.Random(9))
    second = agent.propose(context(trials + [pending], taken=frozenset({blob_hash(first.train_py)})))
    assert second.train_py != first.train_py
    assert agent.last_study is not None and agent.last_study.pending == 1   # the claim


def test_the_loop_hands_a_peers_live_claim_over_as_a_pending_trial() -> None:
    agents: list[TPEAgent] = []

    def make(rng: random.Random) -> TPEAgent:
        agents.append(TPEAgent(rng))
        return agents[-1]

    swarm = SimSwarm(2, seed=1, agent=make)
    a, b = (node.researcher for node in swarm.nodes)
    assert a is not None and b is not None
    for _ in range(3):                                    # both calibrate (baseline runs claim nothing)
        a.step()
        b.step()
    announce = a.announce_claim
    assert announce is not None
    served: list[bool] = []

    def claim(blob: str, expires_at: float) -> None:      # the text is servable by the time the claim goes out
        served.append(swarm.texts.get(blob) is not None)
        announce(blob, expires_at)

    a.announce_claim = claim
    first = a.step()                                      # claims its configuration, then runs it (75 s)
    assert served == [True]
    second = b.step()                                     # asks while a's run is in flight: sees only the claim
    assert agents[1].last_study is not None and agents[1].last_study.pending >= 1
    assert first.action == second.action == "explore" and first.blob != second.blob


def test_hostile_peer_texts_are_no_trials() -> None:
    deep = "X = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    junk = [ScoredText(deep, 2.0, "keep"), ScoredText("def broken(:\n", 2.0, "keep"),
            ScoredText(SIM_TRAIN_PY.replace("LEARNING_RATE = 4e-3", "LEARNING_RATE = 1e308"), -5.0, "keep")]
    agent = TPEAgent(random.Random(3))
    proposal = agent.propose(context(junk))
    assert branch_key(deep) is None and agent.last_study is not None and agent.last_study.trials == 1
    assert branch_key(proposal.train_py) == branch_key(SIM_TRAIN_PY)


def test_the_kept_study_adds_new_trials_and_retires_claims_that_ended() -> None:
    from optuna.trial import TrialState

    trials = peer_trials(10, seed=6)
    agent = TPEAgent(random.Random(4))
    first = agent.propose(context(trials))
    claim = ScoredText(first.train_py, 0.0, "pending")
    agent.propose(context(trials + [claim]))
    study = agent.last_study
    assert study is not None and study.pending == 1 and study.trials == 10
    done = ScoredText(first.train_py, 2.3, "discard")          # the claim's result arrived: no longer in flight
    agent.propose(context(trials + [done]))
    assert agent.last_study is study and study.pending == 0 and study.trials == 11   # the same study, updated
    states = [t.state for t in study.optuna.get_trials(deepcopy=False)]
    assert states.count(TrialState.RUNNING) == 1 and states.count(TrialState.COMPLETE) == 11  # only the last ask runs


def test_a_node_whose_one_knob_steps_are_all_scored_moves_more_knobs_instead_of_giving_up() -> None:
    """Each knob has only a few measurable steps around the incumbent, and N sharing nodes score them N times faster:
    once they are all taken the agent moves two knobs (then three) rather than give the loop nothing (it then only
    re-measured its HEAD: 55 of a simulated node's 150 runs)."""
    agent = TPEAgent(random.Random(0))
    scored = [ScoredText(SIM_TRAIN_PY, 2.44, "keep", mine=True)]
    taken = {blob_hash(SIM_TRAIN_PY)}
    widths = []
    for i in range(60):
        proposal = agent.propose(context(scored, taken=frozenset(taken)))  # the old agent gave up at the 53rd
        assert blob_hash(proposal.train_py) not in taken
        taken.add(blob_hash(proposal.train_py))
        scored.append(ScoredText(proposal.train_py, 2.45 + 0.01 * (i % 3), "discard", mine=True))
        widths.append(len(changed(proposal.train_py)))
    assert max(widths[:20]) <= 2 and max(widths) >= 2   # near the incumbent first, wider once that is scored


def test_a_step_that_lost_on_one_side_is_mirrored_to_the_other() -> None:
    """The real 60 s swarm's tpe tried N_LAYER 2 -> 4 and never 2 -> 1 (+2.6%, mutate found it): TPE kept the
    incumbent's value and the step always went up. Now, once the step up lost, the knob goes down."""
    base = SIM_TRAIN_PY
    up = apply_values(base, {**knob_values(base), "N_LAYER": 4})
    scored = [ScoredText(base, 2.44, "keep", mine=True), ScoredText(base, 2.45, "keep", mine=True),
              ScoredText(up, 2.60, "discard", mine=True)]
    downs = []
    for seed in range(8):
        study = Study(base, scored, seed=seed, n_startup=3)
        assert study.lost_sides("N_LAYER") == {True} and study.lost_sides("N_EMBD") == set()
        downs.append(study.ask(["N_LAYER"], local=True)["N_LAYER"])
    assert all(v < 2 for v in downs), downs       # mirrored: N_LAYER 1 every time (the old rule: 4 or more)
    # with neither side measured, the incumbent's own value steps either way
    sides = {Study(base, scored[:2], seed=s, n_startup=3).ask(["N_LAYER"], local=True)["N_LAYER"] > 2
             for s in range(12)}
    assert sides == {True, False}
    # and the agent picks a knob whose mirror is open more often than its share (1 of the study's knobs)
    study = Study(base, scored, seed=0, n_startup=3)
    agent, names = TPEAgent(random.Random(0)), list(study.space)
    share = sum(agent._pick(study, names, context(scored), 1) == ["N_LAYER"] for _ in range(2000)) / 2000
    assert share > 1.5 / len(names), (share, len(names))
