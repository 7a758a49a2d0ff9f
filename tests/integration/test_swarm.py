"""Real node processes on 127.0.0.1: gossip to all (results and a claim), catch-up by sync, SIGKILL and restart."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from node.ledger import Ledger
from tests.integration.nodeproc import NodeProc
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SWARM = bytes.fromhex("5a" * 32)


def held(node: NodeProc) -> list[tuple[bytes, int]]:
    """(author, seq) of every result in the node's ledger, read-only."""
    with Ledger(node.ledger_path, readonly=True) as ledger:
        return [(r.author, r.seq) for r in ledger.results(SWARM)]


def claims(node: NodeProc) -> list[Any]:
    with Ledger(node.ledger_path, readonly=True) as ledger:
        return ledger.active_claims(SWARM, time.time())


def count(node: NodeProc) -> int:
    with Ledger(node.ledger_path, readonly=True) as ledger:
        return ledger.count(SWARM)


def test_five_nodes_gossip_everything_and_a_sixth_catches_up(tmp_path: Path) -> None:
    # Periodic sync is slowed down so that the first phase shows gossip, not sync, delivering.
    slow_sync = {"SWARM_NODE_SYNC_INTERVAL": "60"}
    first = NodeProc(tmp_path / "n0", SWARM, env=slow_sync)
    others = [NodeProc(tmp_path / f"n{i}", SWARM, peers=first.addrs, env=slow_sync, wait=False) for i in range(1, 5)]
    nodes = [first] + [node.ready() for node in others]
    wait_for(lambda: len(first.ask("peers", "peers")["peers"]) == 4, timeout=20, what="4 peers connected to n0")
    for node in nodes:
        wait_for(lambda: node.ask("peers", "peers")["peers"], timeout=10, what=f"{node.home.name} has a peer")

    per_node = 6
    nodes[2].ask("claim", "claimed", blob="ab" * 20)
    for node in nodes:
        node.send("publish", n=per_node)
    for node in nodes:
        node.wait("done", timeout=20)
    total = per_node * len(nodes)
    for node in nodes:
        wait_for(lambda: count(node) == total, timeout=30, what=f"{node.home.name} holds all {total}")

    for node in nodes:
        pairs = held(node)
        assert len(pairs) == total and len(set(pairs)) == total  # no duplicates
        per_author = Counter(author for author, _ in pairs)
        assert sorted(per_author.values()) == [per_node] * len(nodes)
        assert {seq for _, seq in pairs} == set(range(1, per_node + 1))

    for node in nodes:
        wait_for(lambda: [c.blob for c in claims(node)] == ["ab" * 20], timeout=10, what="the claim everywhere")

    late = NodeProc(tmp_path / "late", SWARM, peers=nodes[3].addrs[:1])
    wait_for(lambda: count(late) == total, timeout=30, what="the late node caught up by sync")
    assert sorted(held(late)) == sorted(held(first))
    codes = NodeProc.stop_all(nodes + [late])
    assert codes == [0] * 6, [n.stderr_tail() for n, c in zip(nodes + [late], codes) if c != 0]


def test_sigkill_mid_stream_keeps_every_acknowledged_result_and_catches_up(tmp_path: Path) -> None:
    peer = NodeProc(tmp_path / "peer", SWARM)
    victim = NodeProc(tmp_path / "victim", SWARM, peers=peer.addrs)
    wait_for(lambda: victim.ask("peers", "peers")["peers"], timeout=20, what="victim connected")

    victim.send("publish", n=400, interval=0.005)
    acked: list[int] = []
    while len(acked) < 40:
        acked.append(victim.wait("published", timeout=20)["seq"])
    victim.kill()  # SIGKILL, mid-stream
    while not victim.events.empty():  # acknowledgements already written to the pipe count too
        item = victim.events.get_nowait()
        if item.get("event") == "published":
            acked.append(item["seq"])

    peer.ask("publish", "done", n=7)  # published while the victim is down
    revived = NodeProc(victim.home, SWARM)  # same home, no bootstrap: it redials the peers it remembers
    mine = {seq for author, seq in held(revived) if seq in set(acked)}
    assert set(acked) <= mine, "an acknowledged result was lost"

    wait_for(lambda: count(peer) >= len(acked) + 7, timeout=30, what="peer has every acknowledged result")
    wait_for(lambda: count(revived) == count(peer), timeout=30, what="revived node caught up")
    assert sorted(held(revived)) == sorted(held(peer))
    seq_after = revived.ask("publish", "published", n=1)["seq"]
    assert seq_after > max(acked)  # the own counter survived the kill: no seq reused
    assert NodeProc.stop_all([revived, peer]) == [0, 0]
