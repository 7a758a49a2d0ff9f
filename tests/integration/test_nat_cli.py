"""Issue 14's "done when", tried as a new user would: the real ``swarm-node`` CLI across NATs, in namespaces.

A public node seeds a swarm and runs (``seed``, then ``join``, on 198.51.100.10); two homes behind symmetric NATs
(hole punching cannot cross them: everything home-to-home goes through the public node's relay) run
``swarm-node join <the printed join string>``; ``swarm-node feed`` on the public node then shows results from both
homes. A third home (a driven node) has claimed a result with its own train.py; home B re-runs that commit with
``swarm-node verify``: B fetches the train.py from the claimer through the relay (the public node never held it),
trains it in its sandbox, and the claimer receives B's attestation. The topology is tests/integration/nattopo.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from node.config import load_config
from node.ledger import Ledger
from protocol import Identity, git_blob_hash
from tests.integration.cliproc import Cli
from tests.integration.nattopo import PUBLIC_IP, NatTopology, nat_tools_missing
from tests.integration.nodeproc import ROOT, NodeProc
from tests.integration.test_research import TOKENS, seed_swarm, with_lr
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

CLAIMED = with_lr("1e-3")


def key_of(home: Path) -> str:
    return Identity.load(load_config(overrides={"home": home}).identity_path).public_key.hex()


def authors(home: Path, swarm: bytes) -> set[str]:
    with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
        return {r.author.hex() for r in ledger.results(swarm)}


@pytest.mark.timeout(900)  # three tiny runs (two homes, one re-run): minutes on a loaded 2-core machine
def test_seed_on_the_public_node_and_join_from_two_homes_behind_nat_with_the_join_string(tmp_path: Path) -> None:
    missing = nat_tools_missing()
    assert missing is None, missing
    pub, homes = tmp_path / "public", [tmp_path / "homeA", tmp_path / "homeB"]
    with NatTopology(homes=3, nat="symmetric") as net:
        swarm = seed_swarm(tmp_path, pub)  # `swarm-node seed program.md --train ... --data ... --budget 20k-tokens`
        clis: list[Cli] = []
        claimer: NodeProc | None = None
        try:
            seeder = Cli("join", swarm.hex(), "--home", str(pub), "--watch", "--listen", f"/ip4/{PUBLIC_IP}/tcp/4001",
                         "--no-mdns", wrap=net.wrap("pub", []))
            clis.append(seeder)
            join_string = seeder.line_with("join string:", 60).split()[-1]
            assert join_string.startswith(f"swarm://{swarm.hex()}@/ip4/{PUBLIC_IP}/tcp/4001/p2p/")
            claimer = NodeProc(tmp_path / "claimer", swarm, listen="/ip4/0.0.0.0/tcp/4001",
                               peers=[join_string.split("@", 1)[1]], wrap=net.wrap("home2", []))
            wait_for(lambda: [a for a in claimer.ask("addrs", "addrs")["addrs"] if "/p2p-circuit/" in a],
                     timeout=30, what="the claimer reserved a relay slot")
            claim = claimer.ask("claim_result", "published", text=CLAIMED, metric=7.0, budget_tokens=TOKENS,
                                description="LEARNING_RATE 1e-4 -> 1e-3")["id"]

            for i, home in enumerate(homes):  # what a new user types at home: the join string, nothing else
                clis.append(Cli("join", join_string, "--home", str(home), wrap=net.wrap(f"home{i}", [])))
            wanted = set()
            for home, cli in zip(homes, clis[1:]):
                cli.line_with("baseline run 1/3", 400)  # its first result
                wanted.add(key_of(home))
            wait_for(lambda: wanted <= authors(pub, swarm), timeout=90, interval=1,
                     what="both homes' results on the public node")
            # Ctrl-C, both homes at once (a loaded machine took 33 s to shut a node down)
            for code, err in Cli.interrupt_all(clis[1:], timeout=120):
                assert code == 0 and "stopped" in err, err[-3000:]
            shown = subprocess.run([sys.executable, "-m", "node", "feed", "--json", "--home", str(pub)], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60)
            assert shown.returncode == 0, shown.stderr
            assert wanted <= {json.loads(line)["author"] for line in shown.stdout.splitlines()}, shown.stdout

            # Home B re-runs the claimer's commit: its train.py only the claimer serves, reachable through the relay.
            with Ledger(homes[1] / "ledger.sqlite", readonly=True) as ledger:
                commit = next(r.commit for r in ledger.results(swarm) if r.message_id.hex() == claim)
            done = subprocess.run(net.wrap("home1", [sys.executable, "-m", "node", "verify", commit[:10], "--home",
                                                     str(homes[1]), "--peer", join_string.split("@", 1)[1],
                                                     "--no-mdns", "--linger", "3"]),
                                  cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert done.returncode in (0, 3), (done.returncode, done.stdout, done.stderr[-3000:])
            assert done.stdout.startswith(("confirmed: ", "refuted: ")), done.stdout
            with Ledger(homes[1] / "ledger.sqlite", readonly=True) as ledger:
                assert ledger.get_commit(git_blob_hash(CLAIMED.encode())) == CLAIMED.encode()
                rerun = [r for r in ledger.results(swarm) if r.reproduces.hex() == claim]
                assert rerun and rerun[0].metric > 0, "home B re-ran the claim and attested it"
            with Ledger(pub / "ledger.sqlite", readonly=True) as ledger:
                assert ledger.get_commit(git_blob_hash(CLAIMED.encode())) is None, "only the claimer served it"

            def attested() -> bool:
                with Ledger(claimer.ledger_path, readonly=True) as ledger:
                    return any(r.reproduces.hex() == claim for r in ledger.results(swarm))

            wait_for(attested, timeout=30, what="the claimer received home B's attestation")
            claimer.send("stop")  # both leave at once
            code, err = seeder.interrupt()
            assert code == 0, err[-2000:]
            assert claimer.stop() == 0, claimer.stderr_tail()
        finally:
            for cli in clis:
                if cli.proc.poll() is None:
                    cli.proc.kill()
                    cli.proc.wait(10)
            if claimer is not None and claimer.proc.poll() is None:
                claimer.kill()
