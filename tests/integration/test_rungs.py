"""Ideas climb in scale, for real: a ``swarm-node join --rung 1`` process re-tests a rung-0 peer's signed keep with the
rung's knobs scaled, under the rung's budget, as class ``<hw>+r1``; ``swarm-node feed`` reports the transfer.

The rung-0 peer is a ledger prepared with real signed results (its baseline runs and one kept idea, its train.py filed
as a commit, as sync would leave them); the rung-1 node is a real process training tiny models in the sandbox.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coordinator.branch import knob_values
from coordinator.workspace import Workspace
from node.feed.views import build_feed
from node.ledger import Ledger
from node.ledger.rows import ResultRow
from protocol import BudgetRule, Identity, Result, decode_and_verify, git_blob_hash, sign_message
from tests.factories import write_identity
from tests.integration.cliproc import Cli
from tests.integration.nodeproc import ROOT
from tests.integration.test_experiment import tiny_train_py
from tests.waiting import wait_for
from trainer import builtin_dataset, hardware_fingerprint

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # 3 short runs; minutes on a loaded machine

PEER_CLASS = "cpu:peer-laptop:1t"
BASELINE = tiny_train_py(LEARNING_RATE="4e-3")
IDEA = BASELINE.replace("LEARNING_RATE = 4e-3", "LEARNING_RATE = 1e-2")
RUNGS = '[{"budget": 1.5, "scale": {"N_LAYER": 2, "N_EMBD": 2}}]'   # rung 1: 3 s instead of 2 s, twice as big


def seed(tmp_path: Path, home: Path) -> bytes:
    (tmp_path / "train.py").write_text(BASELINE)
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(builtin_dataset().corpus_bytes()[:200_000])
    out = subprocess.run([sys.executable, "-m", "node", "seed", str(ROOT / "program.md"), "--train",
                          str(tmp_path / "train.py"), "--data", str(corpus), "--budget", "2s", "--rungs", RUNGS,
                          "--home", str(home)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "rung r1: 1.5x budget, N_EMBD x2, N_LAYER x2 (swarm-node join --rung 1)" in out.stdout
    return bytes.fromhex(next(line.split()[-1] for line in out.stdout.splitlines() if line.startswith("swarm id:")))


def file_rung_0_peer(tmp_path: Path, home: Path, swarm: bytes) -> Identity:
    """A rung-0 peer's baseline runs and its kept idea (real git commits, real signatures), as sync leaves them."""
    peer = Identity.generate()
    ws = Workspace.open_or_create(tmp_path / "peer-workspace", BASELINE)
    base = ws.baseline()
    kept = ws.commit_kept(IDEA, "LEARNING_RATE 4e-3 -> 1e-2")
    now = time.time()

    def result(seq: int, **fields: object) -> Result:
        common: dict[str, object] = dict(
            swarm_id=swarm, author=peer.public_key, seq=seq, created_at=now - 600 + seq, commit=base, parent="",
            blob=git_blob_hash(BASELINE.encode()), metric=3.0, status="keep", hw_class=PEER_CLASS,
            hw_fingerprint="a laptop", budget=BudgetRule("seconds", 2), steps=40, tokens=40 * 8 * 128,
            wall_seconds=4.0, peak_memory_mb=200.0, description=f"baseline run {seq}/3", action="baseline",
            run_index=seq - 1, cpu_seconds=2.0, clock="cpu")
        return Result(**{**common, **fields})  # type: ignore[arg-type]

    results = [result(1), result(2, metric=3.02), result(3, metric=2.98),
               result(4, commit=kept, parent=base, blob=git_blob_hash(IDEA.encode()), metric=2.7,
                      description="LEARNING_RATE 4e-3 -> 1e-2", action="explore", run_index=0)]
    with Ledger(home / "ledger.sqlite") as ledger:
        assert all(ledger.add_results([decode_and_verify(sign_message(peer, r)) for r in results]))
        ledger.put_commit(git_blob_hash(IDEA.encode()), IDEA.encode(), peer.public_key, base)
    return peer


def file_own_rung_0_baseline(home: Path, swarm: bytes) -> Identity:
    """This node's three rung-0 baseline runs, done earlier on this machine's class: 100x the tokens of the peer's."""
    me = Identity.generate()
    write_identity(home, me)
    now = time.time()
    runs = [Result(swarm_id=swarm, author=me.public_key, seq=seq, created_at=now - 300 + seq, commit=f"{seq:040x}",
                   parent="", blob=git_blob_hash(BASELINE.encode()), metric=3.0, status="keep",
                   hw_class=hardware_fingerprint().hw_class, hw_fingerprint="this machine",
                   budget=BudgetRule("seconds", 2), steps=4000, tokens=100 * 40 * 8 * 128, wall_seconds=3.0,
                   peak_memory_mb=200.0, description=f"baseline run {seq}/3", action="baseline", run_index=seq - 1,
                   cpu_seconds=2.0, clock="cpu") for seq in (1, 2, 3)]
    with Ledger(home / "ledger.sqlite") as ledger:
        assert all(ledger.add_results([decode_and_verify(sign_message(me, r)) for r in runs]))
    return me


def test_a_rung_auto_node_climbs_to_rung_1_and_retests_a_rung_0_keep_with_the_scaled_knobs(tmp_path: Path) -> None:
    """``join`` with the default ``--rung auto``: its own rung-0 baseline runs trained 100x the tokens of the peer
    class's, rung 1 costs 1.5 x 2 x 2^2 = 12 and 100 >= 2 x 12, so it climbs before its first step; at rung 1 it
    re-tests the peer's keep, the feed reports the transfer, and ``verify`` of that result re-runs it at rung 1."""
    home = tmp_path / "home"
    swarm = seed(tmp_path, home)
    peer = file_rung_0_peer(tmp_path, home, swarm)
    me = file_own_rung_0_baseline(home, swarm)
    node = Cli("join", swarm.hex(), "--home", str(home), "--max-experiments", "3",
               "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", env={"SWARM_NODE_PARALLEL": "2"})
    said = (f"100x the tokens per baseline run of {PEER_CLASS} (the median of 1 other classes); rung r1: "
            "1.5x budget, N_EMBD x2, N_LAYER x2 costs 12x a rung-0 run, affordable at >= 24x: climbing to rung 1")
    node.line_with(f"rung auto: {said}", timeout=300)
    shown = wait_for(lambda: node_file_at_rung(home, 1), timeout=60, interval=0.5,
                     what="node.json with rung 1")
    assert (shown["rung_auto"], shown["rung_why"]) == (True, said)       # what `swarm-node status` prints
    node.line_with("done: 3 experiment(s)", timeout=600)   # the machine may be loaded: deadlines are generous
    code, err = node.finish()
    assert code == 0, err[-3000:]
    assert any("| rung 1 of 1 |" in line and "budget 3s" in line for line in node.out), node.out
    up = check_the_rung_1_runs_and_the_feed(home, swarm, peer.public_key, me.public_key)
    check_verify_reruns_it_at_rung_1(tmp_path, home, swarm, up)


def node_file_at_rung(home: Path, rung: int) -> dict[str, object] | None:
    """node.json once it says ``rung`` (None before, or while it is being rewritten)."""
    try:
        info = json.loads((home / "node.json").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("rung") == rung else None


def check_verify_reruns_it_at_rung_1(tmp_path: Path, home: Path, swarm: bytes, up: ResultRow) -> None:
    """``swarm-node verify`` of a rung-1 result (by another identity: a copy of the ledger in a fresh home) re-runs its
    train.py (the scaled one, as it ran: not scaled again) under rung 1's budget, as class ``<hw>+r1``."""
    other = tmp_path / "verifier"
    other.mkdir()
    shutil.copy(home / "ledger.sqlite", other / "ledger.sqlite")
    out = subprocess.run([sys.executable, "-m", "node", "verify", up.commit[:12], "--home", str(other), "--linger",
                          "0", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode in (0, 3), (out.returncode, out.stdout, out.stderr[-3000:])
    assert "at rung 1 (r1: 1.5x budget, N_EMBD x2, N_LAYER x2) under 3s" in out.stderr, out.stderr
    assert " at rung 1: " in out.stdout, out.stdout
    with Ledger(other / "ledger.sqlite", readonly=True) as ledger:
        [ran] = [r for r in ledger.results(swarm) if r.reproduces == up.message_id]
    assert ran.blob == up.blob and ran.action == "verify"
    assert ran.hw_class == up.hw_class and ran.budget == "3s", (ran.hw_class, ran.budget)
    assert ran.status in ("keep", "discard") and ran.steps > 0


def check_the_rung_1_runs_and_the_feed(home: Path, swarm: bytes, peer: bytes, me: bytes) -> ResultRow:
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        rows = ledger.results(swarm)
        mine = [r for r in rows if r.author == me and r.seq > 3]   # seq 1-3: its rung-0 baseline runs, filed
        texts = {r.blob: ledger.get_commit(r.blob) for r in mine}
        feed = build_feed(ledger, swarm)
    # every run of the rung-1 node: its class, the budget it ran under (1.5 x 2 s), its own baseline runs
    assert mine and all(r.hw_class.endswith("+r1") and r.budget == "3s" for r in mine)
    assert [r.action for r in mine][:3] == ["baseline"] * 3      # the peer's rung-0 baseline runs are no rung-1 runs
    base = knob_values(bytes(texts[mine[0].blob]).decode())
    assert (base["N_LAYER"], base["N_EMBD"], base["LEARNING_RATE"]) == (2, 64, 4e-3)
    # the transfer: the peer's idea, scaled by rung 1's factors, run here and judged against rung 1's best
    [up] = [r for r in mine if r.action == "explore"][:1]
    assert up.description == f"from {PEER_CLASS}: LEARNING_RATE 4e-3 -> 1e-2", up.description
    ran = knob_values(bytes(texts[up.blob]).decode())
    assert (ran["N_LAYER"], ran["N_EMBD"], ran["N_HEAD"], ran["LEARNING_RATE"]) == (2, 64, 2, 1e-2)
    assert up.status in ("keep", "discard")

    transfers = feed["transfers"]
    assert (transfers["up_tested"], transfers["up_held"]) == (1, int(up.status == "keep"))
    verdict = f"kept on {PEER_CLASS}, {up.hw_class}" if up.status == "keep" else \
        f"kept on {PEER_CLASS}; lost on {up.hw_class}"
    assert transfers["ideas"] == [f"LEARNING_RATE 4e-3 -> 1e-2: {verdict}"]
    out = subprocess.run([sys.executable, "-m", "node", "feed", "--home", str(home)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert f"idea LEARNING_RATE 4e-3 -> 1e-2: {verdict}" in out.stdout, out.stdout
    assert f"rungs: {int(up.status == 'keep')} of 1 rung-0 keeps re-tested higher up held there" in out.stdout
    return up

