"""A token-budget run's compute ceiling comes from this node's own baseline runs on its class (real ledger rows)."""

from __future__ import annotations

from pathlib import Path

from node.ledger import Ledger
from node.research import baseline_ceiling
from protocol import BudgetRule, git_blob_hash, swarm_id_of
from tests.factories import ALICE, BOB, make_manifest, signed_result
from trainer.limits import CEILING_MULTIPLE

BASE = git_blob_hash(b"baseline train.py")
TOKENS = BudgetRule("tokens", 2_000_000)


def test_ceiling_is_a_multiple_of_the_own_baseline_runs_cpu_seconds(tmp_path: Path) -> None:
    swarm = swarm_id_of(make_manifest(ALICE))
    run = dict(blob=BASE, budget=TOKENS, action="baseline", clock="cpu", hw_class="cpu:X:1t")
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert baseline_ceiling(ledger.results(swarm), baseline_blob=BASE, hw_class="cpu:X:1t",
                                author=ALICE.public_key, budget=str(TOKENS)) is None  # none yet: the default
        ledger.add_results([
            signed_result(ALICE, 1, swarm, cpu_seconds=100.0, run_index=0, **run),
            signed_result(ALICE, 2, swarm, cpu_seconds=120.0, run_index=1, **run),
            signed_result(ALICE, 3, swarm, cpu_seconds=900.0, run_index=2, status="crash", metric=0.0, **run),
            signed_result(BOB, 1, swarm, cpu_seconds=1e5, run_index=3, **run),  # a peer's number never widens it
            signed_result(ALICE, 4, swarm, cpu_seconds=800.0, **{**run, "hw_class": "cpu:Y:1t"}),
            signed_result(ALICE, 5, swarm, cpu_seconds=700.0, **{**run, "budget": BudgetRule("tokens", 500_000)}),
            signed_result(ALICE, 6, swarm, cpu_seconds=600.0, **{**run, "action": "explore"}),
        ])
        rows = ledger.results(swarm)
    ceiling = baseline_ceiling(rows, baseline_blob=BASE, hw_class="cpu:X:1t", author=ALICE.public_key,
                               budget=str(TOKENS))
    assert ceiling == CEILING_MULTIPLE * 110.0
