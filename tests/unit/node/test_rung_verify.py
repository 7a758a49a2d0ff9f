"""``swarm-node verify`` of a rung-K result re-runs it at rung K (``node.swarms.as_it_ran``): rung K's budget, the
result's own train.py (already the rung's), class ``<hw>+rK``; a class naming a rung the manifest does not define, or
a budget that is not its rung's, is refused with the reason before the node goes online (the real re-run at rung 1:
tests/integration/test_rungs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli.main import _register_commands, cli
from node.ledger import Ledger
from node.swarms import RungError, as_it_ran, load_swarm
from protocol import BudgetRule
from tests.factories import ALICE, signed_result
from tests.unit.node.test_rungs import ROOT, RUNG_1
from tests.unit.node.test_seed_task import manifest_of, seed

_register_commands()

COMMIT = "ab" * 20


def seeded(home: Path, *rungs: str) -> bytes:
    assert seed(home, str(ROOT / "program.md"), "--budget", "60s", *rungs).exit_code == 0
    return manifest_of(home)[0]


def test_a_rung_k_result_is_re_run_as_it_ran_at_rung_k(tmp_path: Path) -> None:
    sid = seeded(tmp_path / "home", "--rungs", RUNG_1)
    with Ledger(tmp_path / "home" / "ledger.sqlite") as ledger:
        spec = load_swarm(ledger, sid)
    assert as_it_ran(spec, "cpu:x:1t", "60s") is spec                 # an unmarked class: rung 0, the swarm as seeded
    up = as_it_ran(spec, "cpu:x:1t+r1", "300s")
    assert (up.rung, str(up.budget)) == (1, "300s")                   # 5 x 60 s
    with pytest.raises(RungError, match="names rung 2, but this swarm's manifest has no rung 2; it defines rungs 1"):
        as_it_ran(spec, "cpu:x:1t+r2", "300s")


@pytest.mark.parametrize("hw_class,budget,words", [
    ("cpu:x:1t+r5", 300, "class cpu:x:1t+r5 names rung 5, but this swarm's manifest has no rung 5; it defines rungs "
                         "1..1"),
    ("cpu:x:1t+r999", 300, "names rung 999, but this swarm's manifest has no rung 999"),
    ("cpu:x:1t+r1", 60, "names rung 1 (r1: 5x budget, N_EMBD x2, N_LAYER x2), which runs under 300s, but the result "
                        "ran under 60s: it is no rung-1 result of this swarm"),
])
def test_verify_refuses_a_result_whose_rung_the_manifest_does_not_define(tmp_path: Path, hw_class: str, budget: int,
                                                                        words: str) -> None:
    home = tmp_path / "home"
    sid = seeded(home, "--rungs", RUNG_1)
    with Ledger(home / "ledger.sqlite") as ledger:
        assert ledger.add_results([signed_result(ALICE, 1, sid, commit=COMMIT, hw_class=hw_class,
                                                 budget=BudgetRule("seconds", budget))])
    out = CliRunner().invoke(cli, ["verify", COMMIT[:8], "--home", str(home), "--no-mdns", "--linger", "0",
                                   "--listen", "/ip4/127.0.0.1/tcp/0"])
    assert out.exit_code == 1 and f"rror: cannot verify {COMMIT[:10]}: " in out.output, out.output
    assert words in out.output and "Traceback" not in out.output, out.output
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        assert [r.commit for r in ledger.results(sid)] == [COMMIT]    # nothing re-run, nothing published


def test_a_swarm_without_rungs_refuses_a_rung_result_naming_none(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sid = seeded(home)
    with Ledger(home / "ledger.sqlite") as ledger:
        assert ledger.add_results([signed_result(ALICE, 1, sid, commit=COMMIT, hw_class="cuda:H100+r1")])
    out = CliRunner().invoke(cli, ["verify", COMMIT[:8], "--home", str(home), "--no-mdns", "--linger", "0",
                                   "--listen", "/ip4/127.0.0.1/tcp/0"])
    assert out.exit_code == 1 and "names rung 1, but this swarm's manifest has no rung 1; it defines none" \
        in out.output, out.output
