"""Sybils against "verified": fresh identities (free to make) claim and attest; real node processes, real runs.

- A node whose bubblewrap cannot start (``SWARM_NODE_BWRAP=none``, as on macOS) hears a claim of a train.py that writes
  outside its work dir, signed by one fresh key and "confirmed" by two more: it never runs it and never marks it
  verified.
- A rogue publishes ``keep 0.0001`` for a blob it never serves, plus two attestations from two fresh keys: the feed's
  best (and ``swarm-node best``) is not it.
- Claim squatting: one fresh key claims every one- and two-knob mutation of the baseline (hundreds, some for 23.9 h):
  the honest node stores at most two of them and still explores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.config import load_config
from node.feed.views import build_feed, viewer_of
from node.ledger import Ledger
from protocol import swarm_id_of
from tests.factories import ALICE, make_manifest
from tests.integration.cliproc import Cli
from tests.integration.nodeproc import ROOT, NodeProc
from tests.integration.test_research import BASELINE, LOCAL, TOKENS, ledger_author, seed_swarm, with_lr
from tests.unit.coordinator.make import knob_mutations
from tests.waiting import wait_for
from protocol import git_blob_hash

pytestmark = pytest.mark.slow


def test_three_fresh_identities_never_get_code_run_on_a_node_without_a_sandbox(tmp_path: Path) -> None:
    home = tmp_path / "unsandboxed"
    swarm = seed_swarm(tmp_path, home)
    marker = tmp_path / "outside-the-work-dir"
    payload = with_lr("1e-2") + f"\nopen({str(marker)!r}, 'w').write('ran unconfined')\n"
    # 3 baseline runs, then the step that adopted (and ran) the claim on the old code (verify share 1.0)
    node = Cli("join", swarm.hex(), "--home", str(home), "--max-experiments", "4", *LOCAL,
               env={"SWARM_NODE_VERIFY_SHARE": "1.0", "SWARM_NODE_BWRAP": "none"})
    address = node.line_with("join string:", 60).split("@", 1)[1]
    node.line_with("NO SANDBOX", 60)  # the switch took: this node really runs code unconfined
    author = NodeProc(tmp_path / "sybil-author", swarm, peers=[address], wait=False)
    witnesses = [NodeProc(tmp_path / f"sybil-{i}", swarm, peers=[address], wait=False) for i in (1, 2)]
    for proc in (author, *witnesses):  # started together: their imports overlap
        proc.ready()
    try:
        node.line_with("baseline run 1/3", 120)  # the claim and its "confirmations" arrive while it calibrates
        claim = author.ask("claim_result", "published", text=payload, metric=1.0, budget_tokens=TOKENS,
                           description="LEARNING_RATE 1e-4 -> 1e-2")
        with Ledger(author.ledger_path, readonly=True) as ledger:
            row = next(r for r in ledger.results(swarm) if r.message_id.hex() == claim["id"])
        blob = row.blob
        for witness in witnesses:
            witness.ask("attest", "published", id=claim["id"], blob=blob, commit=row.commit, metric=1.0,
                        budget_tokens=TOKENS)
        with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
            wait_for(lambda: sum(r.reproduces.hex() == claim["id"] for r in ledger.results(swarm)) == 2,
                     timeout=30, what="the node holds the claim's two attestations")
        node.line_with("done: 4 experiment(s)", 400)
        code, err = node.finish()
        assert code == 0 and "stopped" in err, err[-3000:]
    finally:
        NodeProc.stop_all([author, *witnesses])

    assert not marker.exists(), "the Sybils' train.py ran on the node without a sandbox"
    me = bytes.fromhex(ledger_author(home))
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        mine = [r for r in ledger.results(swarm) if r.author == me and r.action != "rerun"]  # one per experiment
        assert len(mine) == 4 and not any(r.reproduces for r in mine) and blob not in {r.blob for r in mine}
        feed = build_feed(ledger, swarm, viewer=viewer_of(load_config(overrides={"home": home})))
    assert feed["best"] and all(b["author"] == me.hex() and b["id"] != claim["id"] for b in feed["best"])
    assert not any(b["verified"] for b in feed["best"])


def test_a_never_served_fake_best_confirmed_by_two_fresh_keys_is_never_best(tmp_path: Path) -> None:
    manifest = make_manifest(ALICE, name="sybil-best")
    swarm = swarm_id_of(manifest)
    (tmp_path / "manifest").write_bytes(manifest)
    honest = NodeProc(tmp_path / "honest", swarm, manifest=tmp_path / "manifest")
    rogue = NodeProc(tmp_path / "rogue", swarm, peers=honest.addrs, wait=False)
    witnesses = [NodeProc(tmp_path / f"sybil-{i}", swarm, peers=honest.addrs, wait=False) for i in (1, 2)]
    for proc in (rogue, *witnesses):  # started together: their imports overlap
        proc.ready()
    try:
        own = honest.ask("claim_result", "published", text=BASELINE, metric=3.0, budget_tokens=TOKENS,
                         description="the honest node's own kept result")
        honest.ask("claim_result", "published", text=BASELINE, metric=3.0, budget_tokens=TOKENS,
                   description="its second run")  # a single run is never best: the mean of two is
        fake_text = BASELINE + "# served by nobody\n"
        fake = rogue.ask("claim_result", "published", text=fake_text, metric=0.0001, budget_tokens=TOKENS,
                         description="a miracle", serve=False)
        with Ledger(rogue.ledger_path, readonly=True) as ledger:
            row = next(r for r in ledger.results(swarm) if r.message_id.hex() == fake["id"])
        blob = row.blob
        for witness in witnesses:
            witness.ask("attest", "published", id=fake["id"], blob=blob, commit=row.commit, metric=0.0001,
                        budget_tokens=TOKENS)
        with Ledger(honest.ledger_path, readonly=True) as ledger:
            wait_for(lambda: ledger.count(swarm) == 5, timeout=30, what="the honest node holds all five results")
            assert honest.ask("fetch_commit", "commit", blob=blob)["ok"] is False  # no peer serves it
            feed = build_feed(ledger, swarm, viewer=viewer_of(load_config(overrides={"home": honest.home})))
        [best] = feed["best"]
        assert best["id"] == own["id"] and best["metric"] == pytest.approx(3.0)
        shown = subprocess.run([sys.executable, "-m", "node", "best", "--home", str(honest.home)], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == BASELINE and "0.0001" not in shown.stderr
    finally:
        NodeProc.stop_all([honest, rogue, *witnesses])


def test_claim_squatting_by_one_fresh_key_does_not_stop_an_honest_node_exploring(tmp_path: Path) -> None:
    home = tmp_path / "honest"
    swarm = seed_swarm(tmp_path, home)
    blobs = sorted(git_blob_hash(text.encode()) for text in knob_mutations(BASELINE))
    assert len(blobs) > 200
    node = Cli("join", swarm.hex(), "--home", str(home), "--max-experiments", "4", *LOCAL)
    address = node.line_with("join string:", 60).split("@", 1)[1]
    squatter = NodeProc(tmp_path / "squatter", swarm, peers=[address])
    try:
        node.line_with("baseline run 1/3", 120)
        squatter.ask("claims", "claimed", timeout=60, blobs=blobs, seconds=86_000, interval=0.006)  # 23.9 h
        squatter.ask("claims", "claimed", timeout=60, blobs=blobs, seconds=1_700, interval=0.006)  # and shorter
        key = bytes.fromhex(ledger_author(squatter.home))
        with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
            wait_for(lambda: blobs[-1] in {c.blob for c in ledger.recent_claims(swarm) if c.author == key},
                     timeout=60, what="the squatter's last claim reached the honest node")
            assert sum(c.author == key for c in ledger.recent_claims(swarm)) <= 2
        node.line_with("done: 4 experiment(s)", 400)
        code, err = node.finish()
        assert code == 0 and "stopped" in err, err[-3000:]
    finally:
        squatter.stop()
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        rows = [r for r in ledger.results(swarm) if r.action != "rerun"]  # one per experiment
    assert [r.description.startswith("baseline run") for r in rows] == [True, True, True, False]
    assert rows[3].blob in blobs  # it explored a mutation the squatter had claimed
