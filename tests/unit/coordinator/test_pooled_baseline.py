"""Pooled baselines: a trusted same-class peer's baseline runs count toward this node's calibration (runbook.py), one
run per run index, each checked against this node's own baseline run; a liar's far-off runs never join."""

from __future__ import annotations

import dataclasses
import statistics

from coordinator.records import Policy, SeenResult
from coordinator.simulate import SIM_TRAIN_PY, SimRun, SimSwarm, objective
from coordinator.workspace import blob_hash

from tests.unit.coordinator.make import LIAR, PEER, PEER2, result, seen
from tests.unit.coordinator.test_researcher import LR, WIDE, Harness, Script

BASE = blob_hash(SIM_TRAIN_PY)
THREE = Policy(baseline_repeats=3)


def peer_baseline(author: bytes, k: int, metric: float, seq: int) -> SeenResult:
    r = result(author=author, blob=BASE, metric=metric, description="baseline run", seq=seq)
    return seen(dataclasses.replace(r, run_index=k, action="baseline"))  # type: ignore[arg-type]


def recording(seeds: list[tuple[str, int]]):  # type: ignore[no-untyped-def]
    def runner(text: str, seed: int) -> SimRun:
        seeds.append((blob_hash(text), seed))
        return objective(text, seed, noise=0.0)
    return runner


def test_two_peers_baseline_runs_leave_this_node_one_of_its_own() -> None:
    seeds: list[tuple[str, int]] = []
    h = Harness(THREE)
    h.results += [peer_baseline(PEER, 0, 2.44, 1), peer_baseline(PEER2, 1, 2.45, 1)]
    r = h.make(Script(LR, WIDE), runner=recording(seeds))
    first = r.step()
    assert first.action == "baseline" and [x.run_index for x in first.records] == [2]  # the index nobody ran
    second = r.step()
    assert r.evidence().baseline_runs == 1 and r.noise.baseline_indexes() == 3
    assert second.action == "explore" and second.paired  # the old code ran 3 baseline runs of its own first
    assert second.best_metric is not None and second.best_metric < 2.44 and second.kept
    assert sorted(r.noise.by_index(BASE).items()) == [(0, 2.44), (1, 2.45), (2, first.runs[0])]  # the peers' runs are the baseline's runs 0 and 1


def test_a_liars_far_off_baseline_runs_are_not_pooled_and_the_node_runs_its_own() -> None:
    seeds: list[tuple[str, int]] = []
    h = Harness(THREE)
    h.results += [peer_baseline(LIAR, 0, 2.10, 1), peer_baseline(LIAR, 1, 2.90, 2)]  # 14% and 19% off
    r = h.make(Script(LR, WIDE), runner=recording(seeds))
    outs = [r.step() for _ in range(4)]
    assert [o.action for o in outs] == ["baseline"] * 3 + ["explore"]
    assert sorted(k for o in outs[:3] for k in (x.run_index for x in o.records)) == [0, 1, 2]
    assert r.noise.baseline_indexes() == 3 and r.noise.baseline_runs() == 3  # its own runs only
    assert abs((outs[2].best_metric or 0.0) - statistics.mean(o.runs[0] for o in outs[:3])) < 1e-9  # own mean


def test_an_untrusted_peers_runs_and_a_second_run_of_one_index_are_not_pooled() -> None:
    h = Harness(THREE)
    h.results += [peer_baseline(LIAR, 1, 2.44, 1), peer_baseline(PEER, 0, 2.44, 1), peer_baseline(PEER2, 0, 2.45, 1)]
    r = h.make(Script(LR, WIDE))
    r.trust.refute(LIAR)  # found out elsewhere (a refuted claim): its word no longer counts
    first = r.step()
    assert [x.run_index for x in first.records] == [2]   # runs 0 and 1 are held by peers
    second = r.step()  # the first peer's run 0 pooled, the second's run 0 left out, the liar's run 1 not counted
    assert second.action == "baseline" and [x.run_index for x in second.records] == [1]
    assert sorted(r.noise.by_index(BASE).items()) == [(0, 2.44), (1, second.runs[0]), (2, first.runs[0])]
    assert len(r.noise.runs_of(BASE)) == 3 and r.step().action == "explore"


def test_eight_nodes_that_start_together_run_fewer_baseline_runs_than_eight_times_three() -> None:
    swarm = SimSwarm(8, seed=0, noise=0.0158, seed_noise=0.0065)
    swarm.run_until(target=0.0, max_time=2 * 75.0)  # every node's first three steps
    baseline = [sum(len(o.records) for o in node.outcomes if o.action == "baseline") for node in swarm.nodes]
    assert all(n >= 1 for n in baseline)   # each node runs the baseline at least once on its own hardware
    assert sum(baseline) < 8 * 3 * 0.6, baseline   # the old code: 24 (each node its own 3)
