"""``swarm-node verify`` on a claim that does not hold here: it says so and exits non-zero (3), for scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.ledger import Ledger
from tests.integration.cliproc import Cli
from tests.integration.nodeproc import ROOT, NodeProc
from tests.integration.test_research import LOCAL, TOKENS, seed_swarm, with_lr

pytestmark = pytest.mark.slow


def test_verify_of_a_refuted_claim_exits_3(tmp_path: Path) -> None:
    home = tmp_path / "verifier"
    swarm = seed_swarm(tmp_path, home)
    peer = NodeProc(tmp_path / "peer", swarm)
    try:
        claim = peer.ask("claim_result", "published", text=with_lr("1e-3"), metric=0.5, budget_tokens=TOKENS,
                         description="a miracle")["id"]
        watcher = Cli("join", swarm.hex(), "--home", str(home), "--watch", "--peer", peer.addrs[0], *LOCAL)
        watcher.line_with("a miracle", 60)  # synced from the peer
        assert watcher.interrupt()[0] == 0
        with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
            commit = next(r.commit for r in ledger.results(swarm) if r.message_id.hex() == claim)
        done = subprocess.run([sys.executable, "-m", "node", "verify", commit[:8], "--home", str(home), "--peer",
                               peer.addrs[0], "--linger", "0", *LOCAL], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
    finally:
        peer.stop()
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr[-3000:])
    assert done.stdout.startswith("refuted: ") and "does not reproduce 0.5000" in done.stdout, done.stdout
