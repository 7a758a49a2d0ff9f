"""Reachability (AutoNAT) and direct/relayed links in the feed's peer panel, ``status`` and the terminal feed."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from node.cli.main import _register_commands, cli
from node.feed.netpanel import STATE_NET, net_state
from node.feed.views import build_feed, pick_swarm
from node.ledger import Ledger
from protocol import swarm_id_of
from tests.factories import ALICE, BOB, make_manifest, signed_result, write_identity

_register_commands()

RELAYED, DIRECT = "12D3KooWRelayedPeerAAAA", "12D3KooWDirectPeerBBBBB"


def _home(tmp_path: Path, net: object) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    write_identity(home, BOB)
    manifest = make_manifest(ALICE, name="nat-panel")
    swarm = swarm_id_of(manifest)
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.put_manifest(swarm, manifest)
        ledger.add_results([signed_result(ALICE, 1, swarm, metric=2.5, description="baseline")])
        ledger.status.set_peers([DIRECT, RELAYED])
        ledger.set_state(STATE_NET, net)
    return home


def test_the_peer_panel_shows_reachability_and_which_peers_are_relayed(tmp_path: Path) -> None:
    home = _home(tmp_path, {"reachability": "private", "links": {RELAYED: "relayed", DIRECT: "direct"},
                            "relaying": 0})
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        net = build_feed(ledger, pick_swarm(ledger) or b"")["net"]
    assert net == {"reachability": "private", "links": {RELAYED: "relayed", DIRECT: "direct"}, "relaying": 0}
    out = CliRunner().invoke(cli, ["feed", "--home", str(home)], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "reachable private: behind NAT" in out.output and "(relayed)" in out.output, out.output
    assert "1 direct, 1 relayed" in out.output
    out = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert out.exit_code == 0 and "links 1 direct, 1 relayed" in out.output, out.output


def test_a_damaged_net_state_shows_nothing_instead_of_crashing_the_views(tmp_path: Path) -> None:
    assert net_state({"reachability": "everywhere"}) is None
    assert net_state(["private"]) is None
    assert net_state({"reachability": "public", "links": {"p": "teleported", 3: "direct", "q": "direct"},
                      "relaying": True}) == {"reachability": "public", "links": {"q": "direct"}, "relaying": 0}
    home = _home(tmp_path, {"reachability": 7, "links": "nope"})
    out = CliRunner().invoke(cli, ["feed", "--home", str(home)], terminal_width=200)
    assert out.exit_code == 0 and "reachable" not in out.output, out.output
