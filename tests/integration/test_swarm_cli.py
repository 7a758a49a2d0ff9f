"""The real CLI: ``seed`` a swarm, ``join`` it from another home with the join string only, Ctrl-C."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.ledger import Ledger
from tests.integration.cliproc import Cli
from tests.integration.nodeproc import ROOT, NodeProc
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

LOCAL = ["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"]


def test_seed_then_join_with_only_the_join_string_and_ctrl_c(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be " * 50_000)  # ~1 MB: two data chunks
    seeded = subprocess.run([sys.executable, "-m", "node", "seed", str(ROOT / "node" / "assets" / "program.md"),
                             "--data", str(corpus), "--home", str(tmp_path / "seeder"), "--budget", "30s"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    swarm_hex = next(line.split()[-1] for line in seeded.stdout.splitlines() if line.startswith("swarm id:"))

    seeder = Cli("join", swarm_hex, "--home", str(tmp_path / "seeder"), "--watch", *LOCAL)
    join_string = seeder.line_with("join string:", 60).split()[-1]
    assert join_string.startswith(f"swarm://{swarm_hex}@/ip4/127.0.0.1/tcp/")

    watcher = Cli("join", join_string, "--home", str(tmp_path / "watcher"), "--watch", *LOCAL)
    watcher.line_with("manifest fetched and verified", 60)
    watcher.line_with("data fetched and verified", 60)

    publisher = NodeProc(tmp_path / "publisher", bytes.fromhex(swarm_hex), peers=[join_string.split("@")[1]])
    publisher.ask("publish", "done", n=3)
    for _ in range(3):
        watcher.line_with("synthetic", 30)  # --watch prints each result as it arrives

    publisher.send("stop")  # all three leave at once
    for code, err in Cli.interrupt_all([watcher, seeder]):
        assert code == 0 and "stopped" in err, err[-2000:]
    with Ledger(tmp_path / "watcher" / "ledger.sqlite", readonly=True) as ledger:
        assert ledger.count(bytes.fromhex(swarm_hex)) == 3
    wait_for(lambda: publisher.stop() == 0, timeout=30, what="publisher stopped")


def test_feed_observes_a_swarm_from_its_join_string(tmp_path: Path) -> None:
    seeded = subprocess.run([sys.executable, "-m", "node", "seed", str(ROOT / "program.md"),
                             "--home", str(tmp_path / "seeder"), "--budget", "30s"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    swarm_hex = next(line.split()[-1] for line in seeded.stdout.splitlines() if line.startswith("swarm id:"))
    seeder = Cli("join", swarm_hex, "--home", str(tmp_path / "seeder"), "--watch", *LOCAL)
    join_string = seeder.line_with("join string:", 60).split()[-1]
    publisher = NodeProc(tmp_path / "publisher", bytes.fromhex(swarm_hex), peers=[join_string.split("@")[1]])
    publisher.ask("publish", "done", n=2)

    observer = Cli("feed", join_string, "--json", "--home", str(tmp_path / "observer"),
                   env={"SWARM_NODE_MDNS": "false", "SWARM_NODE_LISTEN": "/ip4/127.0.0.1/tcp/0"})
    lines = [observer.line_with('"status"', 90) for _ in range(2)]
    assert all('"description": "synthetic' in line for line in lines)
    publisher.send("stop")  # all three leave at once
    # 45 s was not enough once inside a full CI run (an open finding)
    (code, _), _ = Cli.interrupt_all([observer, seeder], timeout=90)
    assert code in (0, 1)  # Ctrl-C ends the feed and stops its observer node
    publisher.stop()


def test_join_refuses_a_taken_port_with_the_fix(tmp_path: Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "node", "join", "--watch", "--no-mdns", "--home",
                               str(tmp_path / "home"), "--listen", f"/ip4/127.0.0.1/tcp/{port}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Address already in use" in done.stderr and "/tcp/0" in done.stderr
