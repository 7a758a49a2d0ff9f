"""``--rung auto`` (node.autorung): the rule on plain numbers, the numbers read from real signed results in a real
ledger, the setting through the config file, the environment and the flag, and ``status`` saying why."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from coordinator.transfer import Rung
from node.autorung import Climber, RungChoice, baseline_work, choose_rung, rung_cost, token_cost
from node.cli.main import _register_commands, cli
from node.config import load_config
from node.errors import ConfigError
from node.ledger import Ledger
from node.swarms import load_swarm
from protocol import BudgetRule
from tests.factories import ALICE, BOB, signed_result
from tests.unit.node.test_rungs import ROOT
from tests.unit.node.test_seed_task import manifest_of, seed

_register_commands()

BIG = Rung(5.0, {"N_LAYER": 2.0, "N_EMBD": 2.0})        # 5 x 2 x 2^2 = 40 rung-0 runs of work
SMALL = Rung(2.0, {"N_LAYER": 2.0})                      # 2 x 2 = 4


def test_a_rungs_cost_is_its_budget_multiple_times_the_cost_per_token_of_its_scaled_knobs() -> None:
    assert token_cost({"N_LAYER": 2.0, "N_EMBD": 2.0}) == 8.0             # depth linear, width squared
    assert token_cost({"BLOCK_SIZE": 2.0, "HIDDEN_DIM": 3.0}) == 18.0
    assert token_cost({"LEARNING_RATE": 0.5, "BATCH_SIZE": 4.0}) == 1.0   # no cost per token
    assert rung_cost(BIG) == 40.0 and rung_cost(SMALL) == 4.0 and rung_cost(Rung(3.0, {})) == 3.0


def test_the_node_climbs_to_the_highest_rung_it_affords_twice_over() -> None:
    others = {"cpu:a:1t": 1000.0}
    assert choose_rung(8000.0, others, [SMALL, BIG]).rung == 1       # 8x is 2 x 4: rung 1, not 2 x 40
    assert choose_rung(79_999.0, others, [SMALL, BIG]).rung == 1
    top = choose_rung(80_000.0, others, [SMALL, BIG])
    assert top == RungChoice(2, "80x the tokens per baseline run of cpu:a:1t (the median of 1 other classes); rung "
                                "r2: 5x budget, N_EMBD x2, N_LAYER x2 costs 40x a rung-0 run, affordable at >= 80x: "
                                "climbing to rung 2")
    assert choose_rung(8000.0, others, [BIG, SMALL]).rung == 2       # the highest affordable, not only the first ones
    low = choose_rung(7999.0, others, [SMALL, BIG])
    assert low.rung == 0 and low.ready and low.why.startswith("7.999x the tokens") and low.why.endswith("the cheapest rung costs 4x a rung-0 run, so it would "
                                                            "need >= 8x: staying at rung 0")


def test_the_reference_is_the_median_other_class_and_without_one_the_node_stays_at_rung_0() -> None:
    three = {"cpu:slow:1t": 100.0, "cpu:mid:1t": 1000.0, "cuda:H100": 500_000.0}
    assert "of cpu:mid:1t (the median of 3" in choose_rung(8000.0, three, [SMALL]).why
    assert choose_rung(8000.0, three, [SMALL]).rung == 1
    assert choose_rung(7999.0, three, [SMALL]).rung == 0              # one very slow peer does not lift it
    four = {**three, "cpu:fast:8t": 2000.0}
    assert "of cpu:mid:1t (the median of 4" in choose_rung(8000.0, four, [SMALL]).why   # the slower middle one
    alone = choose_rung(1e9, {}, [SMALL])
    assert (alone.rung, alone.ready) == (0, False) and "no other class" in alone.why
    assert choose_rung(None, three, [SMALL]) == RungChoice(0, "waiting for this node's own rung-0 baseline runs",
                                                          ready=False)
    assert choose_rung(1e9, three, []).rung == 0                      # a swarm without rungs
    assert choose_rung(1e9, {"cpu:zero:1t": 0.0}, [SMALL]).rung == 0  # a class that trained nothing is no reference


def file_baselines(ledger: Ledger, sid: bytes, blob: str, hw_class: str) -> None:
    """This node's (ALICE's) three baseline runs on its class, and other classes' (BOB's), with noise around them."""
    now = time.time()
    rows = [signed_result(ALICE, i + 1, sid, blob=blob, hw_class=hw_class, action="baseline", tokens=t,
                          budget=BudgetRule("seconds", 60), created_at=now + i) for i, t in enumerate([9000, 8000,
                                                                                                       8500])]
    theirs = [("cpu:slow:1t", 1000), ("cpu:slow:1t", 1100), ("cpu:slow:1t", 900), ("cpu:slow:1t+r1", 5),
              ("cpu:other:2t", 0)]
    rows += [signed_result(BOB, i + 1, sid, blob=blob, hw_class=c, action="baseline", tokens=t,
                           budget=BudgetRule("seconds", 60), created_at=now + i) for i, (c, t) in enumerate(theirs)]
    rows.append(signed_result(BOB, 9, sid, blob=blob, hw_class="cpu:tiny:1t", action="baseline", tokens=10,
                              budget=BudgetRule("seconds", 30)))            # another budget: not comparable
    rows.append(signed_result(BOB, 10, sid, hw_class="cpu:tiny:1t", action="explore", tokens=10))  # not a baseline
    assert all(ledger.add_results(rows))


def test_the_numbers_come_from_finished_rung_0_baseline_runs_in_the_ledger(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert seed(home, str(ROOT / "program.md"), "--budget", "60s", "--rungs",
                '[{"budget": 2, "scale": {"N_LAYER": 2}}]').exit_code == 0
    sid, manifest = manifest_of(home)
    choices: list[RungChoice] = []
    with Ledger(home / "ledger.sqlite") as ledger:
        spec = load_swarm(ledger, sid)
        climber = Climber(ledger, spec, me=ALICE.public_key, hw_class="cpu:mine:1t", on_choice=choices.append)
        assert not climber.climbs() and "no other class" not in choices[-1].why and not choices[-1].ready
        file_baselines(ledger, sid, manifest.baseline_blob, "cpu:mine:1t")
        mine, others = baseline_work(ledger.results(sid), baseline_blob=manifest.baseline_blob, budget="60s",
                                     me=ALICE.public_key, hw_class="cpu:mine:1t", repeats=3)
        assert mine == 8500.0 and others == {"cpu:slow:1t": 1000.0}   # rung 1's, 0 tokens, 30 s, explores: out
        assert baseline_work(ledger.results(sid), baseline_blob=manifest.baseline_blob, budget="60s",
                             me=ALICE.public_key, hw_class="cpu:mine:1t", repeats=4)[0] is None
        assert climber.climbs() and climber.choice.rung == 1           # 8.5x >= 2 x (2 x 2)
        assert climber.climbs() and len(choices) == 2                  # the same choice is said once
    assert choices[-1].why.startswith("8.5x the tokens per baseline run of cpu:slow:1t")


def test_rung_auto_in_the_config_file_environment_and_flag(tmp_path: Path) -> None:
    assert load_config(overrides={"home": tmp_path}, env={}).rung == "auto"    # the default
    (tmp_path / "config.toml").write_text('rung = "auto"\n')
    assert load_config(overrides={"home": tmp_path}, env={"SWARM_NODE_RUNG": "0"}).rung == 0
    assert load_config(overrides={"home": tmp_path}, env={}).rung == "auto"
    (tmp_path / "config.toml").write_text("rung = 1\n")
    assert load_config(overrides={"home": tmp_path}, env={"SWARM_NODE_RUNG": " Auto "}).rung == "auto"
    assert load_config(overrides={"home": tmp_path, "rung": "auto"}, env={}).rung == "auto"
    for bad in ('rung = "automatic"', 'rung = true', 'rung = 1.5'):
        (tmp_path / "config.toml").write_text(bad + "\n")
        with pytest.raises(ConfigError, match=r'rung \(from config file .*\): expected a whole number \(a rung\) or '
                                              r'"auto"'):
            load_config(overrides={"home": tmp_path}, env={})
    out = CliRunner().invoke(cli, ["join", "--rung", "fast", "--home", str(tmp_path / "h")])
    assert out.exit_code == 2 and "'fast' is not a rung: a whole number (0: the swarm as seeded) or auto" \
        in out.output, out.output


def test_status_shows_the_rung_auto_chose_and_why(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Ledger(home / "ledger.sqlite").close()
    why = "8.5x the tokens per baseline run of cpu:slow:1t (the median of 1 other classes); ... climbing to rung 1"
    (home / "node.json").write_text(json.dumps({"pid": os.getpid(), "peer_id": "12D3KooWx", "addrs": [],
                                                "started_at": time.time(), "rung": 1, "rung_auto": True,
                                                "rung_why": why}))
    out = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert f"rung      1 (its class ends +r1; auto: {why}; see swarm-node join --help)" in out.output, out.output


def test_a_node_that_ran_the_baseline_once_itself_climbs(tmp_path: Path) -> None:
    """With pooled baselines (trusted same-class peers' runs calibrate the rest) a node may run the baseline only once
    itself: the Climber waited for the Policy default's three own runs and never climbed."""
    home = tmp_path / "home"
    assert seed(home, str(ROOT / "program.md"), "--budget", "60s", "--rungs",
                '[{"budget": 2, "scale": {"N_LAYER": 2}}]').exit_code == 0
    sid, manifest = manifest_of(home)
    rule = BudgetRule("seconds", 60)
    rows = [signed_result(ALICE, 1, sid, blob=manifest.baseline_blob, hw_class="cpu:mine:1t", action="baseline",
                          tokens=9000, budget=rule)]
    rows += [signed_result(BOB, i + 1, sid, blob=manifest.baseline_blob, hw_class=hw, action="baseline", tokens=t,
                           budget=rule) for i, (hw, t) in enumerate([("cpu:mine:1t", 9100), ("cpu:mine:1t", 8900),
                                                                     ("cpu:slow:1t", 1000)])]
    with Ledger(home / "ledger.sqlite") as ledger:
        assert all(ledger.add_results(rows))
        choices: list[RungChoice] = []
        climber = Climber(ledger, load_swarm(ledger, sid), me=ALICE.public_key, hw_class="cpu:mine:1t",
                          on_choice=choices.append)
        assert climber.climbs() and climber.choice.rung == 1, choices   # 9x >= 2 x (2 x 2), on its one own run
