"""The feed views and the read-only commands (feed --json, best, export, status) over a real ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli.main import _register_commands, cli
from node.feed.views import Viewer, build_feed, pick_swarm
from node.ledger import AgentNote, CurrentRun, Ledger
from protocol import Identity, git_blob_hash, swarm_id_of
from tests.factories import ALICE, BOB, CAROL, make_manifest, signed_result, write_identity

_register_commands()


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    """BOB's node home: its ledger holds one swarm: two kept results of ALICE's, a discard, and attestations of
    ALICE's best by BOB (this node: it re-ran it) and CAROL."""
    home = tmp_path / "home"
    home.mkdir()
    write_identity(home, BOB)
    manifest = make_manifest(ALICE, name="shakespeare-cpu")
    swarm = swarm_id_of(manifest)
    best_text = b"LR = 6e-3\n"
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.put_manifest(swarm, manifest)
        base = signed_result(ALICE, 1, swarm, metric=2.50, commit="a" * 40, description="baseline")
        top = signed_result(ALICE, 2, swarm, metric=2.40, commit="b" * 40, parent="a" * 40,
                            blob=git_blob_hash(best_text), description="LR 4e-3 -> 6e-3")
        bad = signed_result(BOB, 1, swarm, metric=2.70, status="discard", commit="", description="<b>wider</b>")
        att1 = signed_result(BOB, 2, swarm, metric=2.405, reproduces=top.message_id, description="re-run",
                             blob=top.message.blob, action="verify", run_index=1)
        att2 = signed_result(CAROL, 1, swarm, metric=2.398, reproduces=top.message_id, description="re-run",
                             blob=top.message.blob, action="verify", run_index=2)
        assert ledger.add_results([base, top, bad, att1, att2]) == [True] * 5
        ledger.put_commit(git_blob_hash(best_text), best_text, ALICE.public_key, "a" * 40)
    return home


def test_build_feed_best_is_what_this_node_reproduced(home: Path) -> None:
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        swarm = pick_swarm(ledger)
        assert swarm is not None
        feed = build_feed(ledger, swarm, viewer=Viewer(me=BOB.public_key))
        stranger = build_feed(ledger, swarm, viewer=Viewer(me=Identity.generate().public_key))
        trusting = build_feed(ledger, swarm, viewer=Viewer(me=b"", trusted=frozenset({CAROL.public_key})))
    assert feed["swarm"]["name"] == "shakespeare-cpu" and feed["swarm"]["budget"] == "60s"
    assert feed["count"] == 5
    [best] = feed["best"]  # the baseline has one run only: a single run is never "best"
    assert best["metric"] == pytest.approx((2.40 + 2.405 + 2.398) / 3) and best["runs"] == 3  # the mean of its runs
    assert best["verified"] and best["confirmed"] == 2 and best["cohort"] == "cpu:2t wall"
    assert best["label"] == "cpu:2t, wall clock (old)"  # a wall-clock CPU result is labelled
    assert best["eligible"] == "re-run here"
    assert stranger["best"] == []  # two confirmations by identities it never reproduced are not enough
    [trusted] = trusting["best"]  # one confirmation by a peer its user trusts is as good as a re-run here
    assert trusted["metric"] == pytest.approx((2.40 + 2.405 + 2.398) / 3) and trusted["verified"]
    assert trusted["eligible"] == "confirmed by 1 trusted peer(s)"
    assert [p["metric"] for p in feed["series"]] == pytest.approx([2.50, 2.40])
    assert {(c["commit"][:1], c["parent"][:1]) for c in feed["lineage"]} == {("a", ""), ("b", "a")}
    assert feed["current"] is None and feed["peers"] == [] and feed["agent"] is None
    json.dumps(feed, allow_nan=False)


def test_a_never_served_fake_best_with_two_fresh_attesters_is_not_best(home: Path) -> None:
    rogue, sybil1, sybil2 = Identity.generate(), Identity.generate(), Identity.generate()
    with Ledger(home / "ledger.sqlite") as ledger:
        swarm = pick_swarm(ledger)
        assert swarm is not None
        fake = signed_result(rogue, 1, swarm, metric=0.0001, commit="f" * 40, blob="e" * 40, description="miracle")
        votes = [signed_result(who, 1, swarm, metric=0.0001, blob="e" * 40, reproduces=fake.message_id)
                 for who in (sybil1, sybil2)]
        assert ledger.add_results([fake, *votes]) == [True] * 3
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        feed = build_feed(ledger, swarm, viewer=Viewer(me=BOB.public_key))
    [best] = feed["best"]
    assert best["metric"] == pytest.approx((2.40 + 2.405 + 2.398) / 3) and best["author"] == ALICE.public_key.hex()
    out = CliRunner().invoke(cli, ["best", "--home", str(home)])
    assert out.exit_code == 0 and "LR = 6e-3" in out.output and "0.0001" not in out.output, out.output


def test_feed_and_status_say_once_that_the_agent_stopped(home: Path) -> None:
    note = "llm agent stopped: http://x/v1 answered 401; set OPENAI_API_KEY"
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.status.set_agent_note(AgentNote("llm", note))
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        assert build_feed(ledger, pick_swarm(ledger) or b"")["agent"] == note
    out = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert out.exit_code == 0 and note in out.output, out.output
    out = CliRunner().invoke(cli, ["feed", "--home", str(home)])
    assert out.exit_code == 0 and "OPENAI_API_KEY" in out.output, out.output


def test_feed_reports_the_running_experiment(home: Path) -> None:
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.status.set_current(CurrentRun(action="explore", description="LR up", fraction=0.5))
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        feed = build_feed(ledger, pick_swarm(ledger) or b"")
    assert feed["current"]["description"] == "LR up"


def test_feed_json_prints_one_object_per_result(home: Path) -> None:
    out = CliRunner().invoke(cli, ["feed", "--json", "--home", str(home)])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert len(lines) == 5 and {r["status"] for r in lines} == {"keep", "discard"}
    assert any(r["description"] == "<b>wider</b>" for r in lines)


def test_feed_table_renders(home: Path) -> None:
    out = CliRunner().invoke(cli, ["feed", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "shakespeare-cpu" in out.output and "2.4010" in out.output and "yes (re-run" in out.output
    assert "3 runs" in out.output


def test_best_writes_the_best_train_py(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "best.py"
    out = CliRunner().invoke(cli, ["best", "--home", str(home), "--out", str(target)])
    assert out.exit_code == 0, out.output
    assert target.read_bytes() == b"LR = 6e-3\n"


def test_export_uses_autoresearch_columns(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "results.tsv"
    out = CliRunner().invoke(cli, ["export", str(target), "--home", str(home)])
    assert out.exit_code == 0, out.output
    rows = [line.split("\t") for line in target.read_text().splitlines()]
    assert rows[0] == ["commit", "val_bpb", "memory_gb", "status", "description", "author", "hw_class", "runs", "verified"]
    assert len(rows) == 4  # header + the three experiments; the two attestations are re-runs, not experiments
    assert ["bbbbbbb", "2.400000", "0.5", "keep", "LR 4e-3 -> 6e-3"] == rows[2][:5]
    assert ["", "2.700000", "0.5", "discard", "<b>wider</b>"] == rows[3][:5]


def test_status_without_a_running_node(home: Path) -> None:
    out = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "not running" in out.output and "shakespeare-cpu" in out.output


def test_commands_explain_a_missing_ledger(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["feed", "--home", str(tmp_path / "nowhere")])
    assert out.exit_code != 0 and "swarm-node join" in out.output


def test_status_lists_bans_with_reason_and_expiry(home: Path) -> None:
    import time

    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.ban_peer("12D3KooWRogue", "3 invalid messages, the last: oversized message", time.time() + 3600)
        ledger.ban_peer("12D3KooWOld", "expired long ago", time.time() - 1)
    out = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "banned    12D3KooWRogue until" in out.output and "oversized message" in out.output
    assert "12D3KooWOld" not in out.output
    report = json.loads(CliRunner().invoke(cli, ["status", "--home", str(home), "--json"]).output)
    assert [b["peer"] for b in report["bans"]] == ["12D3KooWRogue"]
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.lift_ban("12D3KooWRogue")
        assert ledger.bans() == [] and not ledger.is_blacklisted("12D3KooWRogue")


def test_status_shows_each_peers_standing_from_one_store(home: Path) -> None:
    """Trust (the research loop's score from reproductions) and invalid messages, both read back from the ledger's
    one peer row: the trust column was written and never read before."""
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.set_trust("12D3KooWLiar", -3.0)
        ledger.note_invalid("12D3KooWJunk", "SchemaError: an envelope is a non-empty array")
        ledger.touch_peer("12D3KooWQuiet", [])
    out = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "standing  12D3KooWLiar trust -3.00, 0 invalid" in out.output
    assert "standing  12D3KooWJunk trust +0.00, 1 invalid (last: SchemaError" in out.output
    assert "12D3KooWQuiet" not in out.output  # nothing to say about a peer in good standing
    report = json.loads(CliRunner().invoke(cli, ["status", "--home", str(home), "--json"]).output)
    assert {p["peer"]: (p["trust"], p["invalid"]) for p in report["standing"]} == {
        "12D3KooWLiar": (-3.0, 0), "12D3KooWJunk": (0.0, 1)}


def test_a_result_far_better_than_this_nodes_own_is_best_only_once_rerun_here(home: Path) -> None:
    dave = Identity.generate()
    with Ledger(home / "ledger.sqlite") as ledger:
        swarm = pick_swarm(ledger)
        assert swarm is not None
        carol_claim = signed_result(CAROL, 2, swarm, metric=2.45, commit="c" * 40, blob="c" * 40)
        bob_rerun = signed_result(BOB, 3, swarm, metric=2.45, blob="c" * 40, reproduces=carol_claim.message_id)
        far = signed_result(dave, 1, swarm, metric=1.0, commit="d" * 40, blob=git_blob_hash(b"far"))
        near = signed_result(dave, 2, swarm, metric=2.35, commit="e" * 40, blob=git_blob_hash(b"near"))
        votes = [signed_result(who, 10 + claim.message.seq, swarm, metric=claim.message.metric,
                               blob=claim.message.blob, reproduces=claim.message_id)
                 for claim in (far, near) for who in (ALICE, CAROL)]
        assert all(ledger.add_results([carol_claim, bob_rerun, far, near, *votes]))
        for text in (b"far", b"near"):
            ledger.put_commit(git_blob_hash(text), text, dave.public_key, "")
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        [best] = build_feed(ledger, swarm, viewer=Viewer(me=BOB.public_key))["best"]
    # ALICE and CAROL are peers BOB reproduced: their two confirmations verify DAVE's claims; the 1.0 is far better
    # than anything BOB measured (2.405), so it waits for BOB's own re-run; the 2.35 is shown
    assert best["metric"] == pytest.approx(2.35) and best["verified"]
    assert best["eligible"] == "confirmed by 2 trusted peer(s)"
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.add_results([signed_result(BOB, 4, swarm, metric=1.0, blob=far.message.blob,
                                          reproduces=far.message_id)])
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        [best] = build_feed(ledger, swarm, viewer=Viewer(me=BOB.public_key))["best"]
    assert best["metric"] == pytest.approx(1.0) and best["eligible"] == "re-run here"


def test_a_single_lucky_run_is_never_best(tmp_path: Path) -> None:
    manifest = make_manifest(ALICE, name="lucky")
    swarm = swarm_id_of(manifest)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        ledger.put_manifest(swarm, manifest)
        base = [signed_result(ALICE, i + 1, swarm, metric=m, blob="b" * 40, action="baseline", run_index=i)
                for i, m in enumerate((2.55, 2.60, 2.65))]
        lucky = signed_result(BOB, 1, swarm, metric=2.30, blob="c" * 40, description="lucky once", action="explore")
        ledger.add_results([*base, lucky])
        feed = build_feed(ledger, swarm, viewer=Viewer(me=ALICE.public_key))
    [best] = feed["best"]
    assert best["blob"] == "b" * 40 and best["metric"] == pytest.approx(2.60) and best["runs"] == 3
    plot = feed["plot"]
    assert len(plot["points"]) == 4 and plot["running_best"]["cpu:2t wall"][-1]["mean"] == pytest.approx(2.60)
    assert feed["compute"]["share"] == pytest.approx({"baselines": 0.75, "new ideas": 0.25})


def test_feed_and_status_show_which_ideas_held_on_which_classes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_identity(home, BOB)
    manifest = make_manifest(ALICE, name="classes")
    swarm = swarm_id_of(manifest)
    gpu, fast, slow = "cuda:H100-80GB", "cpu:Xeon:8t", "cpu:Xeon:2t"
    rows = [signed_result(ALICE, 1, swarm, metric=1.10, hw_class=gpu, description="relu2", action="explore"),
            signed_result(BOB, 1, swarm, metric=2.30, hw_class=fast, description=f"from {gpu}: relu2",
                          action="explore"),
            signed_result(CAROL, 1, swarm, metric=2.60, hw_class=slow, status="discard",
                          description=f"from {gpu}: relu2", action="explore"),
            signed_result(CAROL, 2, swarm, metric=2.50, hw_class=slow, description="LR 4e-3 -> 6e-3",
                          action="explore"),
            signed_result(BOB, 2, swarm, metric=2.20, hw_class=f"{slow}+r1",
                          description=f"from {slow}: LR 4e-3 -> 6e-3", action="explore")]
    with Ledger(home / "ledger.sqlite") as ledger:
        ledger.put_manifest(swarm, manifest)
        assert ledger.add_results(rows) == [True] * 5
        feed = build_feed(ledger, swarm, viewer=Viewer(me=BOB.public_key))
    assert f"relu2: kept on {gpu}, {fast}; lost on {slow}" in feed["transfers"]["ideas"]
    assert feed["transfers"]["up_tested"] == 1 and feed["transfers"]["up_held"] == 1
    out = CliRunner().invoke(cli, ["status", "--home", str(home)])
    assert out.exit_code == 0 and f"idea relu2: kept on {gpu}, {fast}; lost on {slow}" in out.output, out.output
    assert "rungs: 1 of 1 rung-0 keeps re-tested higher up held there" in out.output


def test_the_observer_waits_for_a_ledger_its_node_has_not_made_yet(tmp_path: Path) -> None:
    """``feed JOIN_STRING`` polls its observer node's ledger: a file created but without its schema yet (the node is
    starting) is "not yet", never the error that a ledger of an old version gives (seen in a full CI run)."""
    import sqlite3

    from node.cli.observer import holds_manifest

    path = tmp_path / "ledger.sqlite"
    assert not holds_manifest(path, b"\x01" * 32)
    sqlite3.connect(path).close()  # the file exists, the schema does not
    assert not holds_manifest(path, b"\x01" * 32)
    manifest = make_manifest(ALICE)
    with Ledger(path) as ledger:
        ledger.put_manifest(swarm_id_of(manifest), manifest)
    assert holds_manifest(path, swarm_id_of(manifest))
