"""Rungs from the user's side: ``seed --rungs`` into the manifest, the swarm read back with them (old manifests: none),
hostile rungs refused with the fix, ``--rung K`` the manifest does not define refused, and ``rung`` in the config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from coordinator.branch import knob_values
from coordinator.transfer import MAX_RUNGS, Rung
from node.cli.main import _register_commands, cli
from node.config import MAX_RUNGS as CONFIG_MAX_RUNGS
from node.config import load_config
from node.errors import ConfigError
from node.ledger import Ledger
from node.swarms import RungError, at_rung, load_swarm, manifest_rung
from protocol import git_blob_hash, swarm_id_of
from tests.factories import ALICE, make_manifest
from tests.unit.node.test_seed_task import assert_clean_error, manifest_of, seed
from trainer import Budget, check_train_py, default_train_py

_register_commands()

ROOT = Path(__file__).resolve().parents[3]
RUNG_1 = '[{"budget": 5, "scale": {"N_LAYER": 2, "N_EMBD": 2}}]'


def test_seed_rungs_round_trip_into_the_swarm_a_rung_1_node_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = seed(home, str(ROOT / "program.md"), "--budget", "60s", "--rungs", RUNG_1)
    assert out.exit_code == 0, out.output
    assert "rung r1: 5x budget, N_EMBD x2, N_LAYER x2 (swarm-node join --rung 1)" in out.output
    sid, manifest = manifest_of(home)
    assert manifest.rungs == '[{"budget": 5.0, "scale": {"N_EMBD": 2.0, "N_LAYER": 2.0}}]'  # canonical: sorted
    with Ledger(home / "ledger.sqlite") as ledger:
        spec = load_swarm(ledger, sid)
    assert spec.rungs == (Rung(5.0, {"N_LAYER": 2.0, "N_EMBD": 2.0}),) and spec.rung == 0
    assert at_rung(spec, 0) is spec
    up = at_rung(spec, 1)
    assert up.rung == 1 and up.budget == Budget("seconds", 300)       # the budget they run under: 5 x 60 s
    assert knob_values(up.baseline)["N_LAYER"] == 4 and knob_values(up.baseline)["N_EMBD"] == 256
    assert check_train_py(up.baseline) == up.baseline                  # the built-in train.py scaled passes the gate
    assert knob_values(up.baseline)["N_EMBD"] % knob_values(up.baseline)["N_HEAD"] == 0


def test_an_old_manifest_means_no_rungs_and_any_rung_is_refused_with_the_fix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert seed(home, str(ROOT / "program.md"), "--budget", "60s").exit_code == 0
    sid, manifest = manifest_of(home)
    assert manifest.rungs == ""
    with Ledger(home / "ledger.sqlite") as ledger:
        spec = load_swarm(ledger, sid)
    assert spec.rungs == ()
    with pytest.raises(RungError, match=r"no rung 1; it defines none \(a swarm's creator adds them: swarm-node seed"):
        at_rung(spec, 1)


def test_a_rung_beyond_the_manifest_is_refused_naming_the_rungs_it_has(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert seed(home, str(ROOT / "program.md"), "--budget", "60s", "--rungs", RUNG_1).exit_code == 0
    sid, manifest = manifest_of(home)
    with pytest.raises(RungError, match="no rung 2; it defines rungs 1..1: r1: 5x budget, N_EMBD x2, N_LAYER x2"):
        manifest_rung(manifest, 2)
    out = CliRunner().invoke(cli, ["join", sid.hex(), "--rung", "2", "--home", str(home), "--no-mdns",
                                   "--listen", "/ip4/127.0.0.1/tcp/0"])
    assert out.exit_code == 1 and "--rung 2: this swarm's manifest has no rung 2" in out.output, out.output
    assert "Traceback" not in out.output
    out = CliRunner().invoke(cli, ["join", "--rung", "1", "--home", str(tmp_path / "h2"), "--no-mdns",
                                   "--listen", "/ip4/127.0.0.1/tcp/0"])   # the built-in swarm has no rungs
    assert out.exit_code == 1 and "has no rung 1; it defines none" in out.output, out.output


@pytest.mark.parametrize("rungs,words", [
    ("rung one", "--rungs: not JSON"),
    ('{"budget": 5}', "a list of 1 to 8 rungs"),
    ("[" + ", ".join(['{"budget": 2}'] * 9) + "]", "a list of 1 to 8 rungs"),
    ('[{"budget": 5, "scale": {"N_LAYER": 2}, "extra": 1}]', 'only "budget" and "scale"'),
    ('[{"budget": 0}]', "budget must be a number in 0.01..1000"),
    ('[{"budget": true}]', "budget must be a number"),
    ('[{"budget": 1e309}]', "budget must be a number"),
    ('[{"scale": {"n_layer": 2}}]', "an UPPER_CASE knob and a factor"),
    ('[{"scale": {"N_LAYER": NaN}}]', "an UPPER_CASE knob and a factor"),
    ('[{"scale": {"N_LAYRE": 2}}]', "rung 1 scales N_LAYRE, but train.py has no such numeric UPPER_CASE knob"),
    ('[{"scale": {"NORM": 2}}]', "rung 1 scales NORM, but train.py has no such"),
    ('[{"budget": 10000}]', "budget must be a number in 0.01..1000"),
    ('[{"budget": 999}]', "rung 1 (r1: 999x budget) cannot run: budget amount 119880 out of range"),
])
def test_hostile_rungs_are_refused_at_seed_leaving_nothing(tmp_path: Path, rungs: str, words: str) -> None:
    home = tmp_path / "home"
    assert_clean_error(seed(home, str(ROOT / "program.md"), "--budget", "120s", "--rungs", rungs), home, words)


def test_rungs_need_a_seconds_budget(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert_clean_error(seed(home, str(ROOT / "program.md"), "--budget", "2M-tokens", "--rungs", RUNG_1), home,
                       "--rungs need a seconds budget")


def test_a_manifest_whose_rungs_the_coordinator_refuses_is_named_where_it_is_read(tmp_path: Path) -> None:
    """A manifest from elsewhere (signed, structurally valid JSON) whose rungs do not parse is refused on load."""
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        text = default_train_py().encode()
        envelope = make_manifest(ALICE, rungs='[{"budget": -1}]', baseline_blob=git_blob_hash(text))
        sid = swarm_id_of(envelope)
        ledger.put_manifest(sid, envelope)
        ledger.put_commit(git_blob_hash(text), text, ALICE.public_key, "")
        with pytest.raises(RungError, match=r"the swarm manifest's rungs: rung 1's budget must be a number"):
            load_swarm(ledger, sid)


def test_rung_in_the_config_file_environment_and_flags(tmp_path: Path) -> None:
    assert CONFIG_MAX_RUNGS == MAX_RUNGS
    (tmp_path / "config.toml").write_text("rung = 1\n")
    assert load_config(overrides={"home": tmp_path}, env={}).rung == 1
    assert load_config(overrides={"home": tmp_path, "rung": 2}, env={}).rung == 2
    assert load_config(overrides={"home": tmp_path}, env={"SWARM_NODE_RUNG": "3"}).rung == 3
    (tmp_path / "config.toml").write_text("rung = 9\n")
    with pytest.raises(ConfigError, match=r"rung \(from config file .*\): 9 is not a rung"):
        load_config(overrides={"home": tmp_path}, env={})
    (tmp_path / "config.toml").write_text('rung = "1"\n')
    with pytest.raises(ConfigError, match="expected a whole number"):
        load_config(overrides={"home": tmp_path}, env={})
    assert dataclasses.replace(load_config(overrides={"home": tmp_path / "x"}, env={})).rung == "auto"  # the default


def test_status_shows_the_swarms_rungs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert seed(home, str(ROOT / "program.md"), "--budget", "60s", "--rungs", RUNG_1).exit_code == 0
    out = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "rungs     r1: 5x budget, N_EMBD x2, N_LAYER x2 (join --rung 1)" in out.output, out.output


def test_rung_k_results_compete_only_with_rung_k_results() -> None:
    """The class suffix keeps rungs apart: a rung-0 result is no rival (nor a scored blob) at rung 1, and back."""
    from coordinator.decide import competes
    from coordinator.peers import scored_blobs
    from coordinator.records import SeenResult
    from coordinator.transfer import rung_class
    from tests.factories import make_result

    low, high = "cpu:x:1t", rung_class("cpu:x:1t", 1)
    r0 = make_result(ALICE, 1, b"\0" * 32, hw_class=low, clock="cpu")
    r1 = make_result(ALICE, 2, b"\0" * 32, hw_class=high, clock="cpu")
    assert high == "cpu:x:1t+r1"
    assert competes(r1, hw_class=high, budget_kind="seconds", clock="cpu")
    assert not competes(r0, hw_class=high, budget_kind="seconds", clock="cpu")
    assert not competes(r1, hw_class=low, budget_kind="seconds", clock="cpu")
    seen = [SeenResult(b"a" * 32, r0), SeenResult(b"b" * 32, r1)]
    assert scored_blobs(seen, hw_class=high, budget_kind="seconds") == {r1.blob}
