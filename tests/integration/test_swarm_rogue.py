"""A rogue libp2p peer sends forged, tampered, replayed, oversized and garbage messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.ledger import Ledger
from tests.integration.nodeproc import NodeProc
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SWARM = bytes.fromhex("6b" * 32)


def authors(node: NodeProc) -> set[bytes]:
    with Ledger(node.ledger_path, readonly=True) as ledger:
        return {r.author for r in ledger.results(SWARM)}


def count(node: NodeProc) -> int:
    with Ledger(node.ledger_path, readonly=True) as ledger:
        return ledger.count(SWARM)


def test_rogue_is_rejected_not_forwarded_and_blacklisted(tmp_path: Path) -> None:
    a = NodeProc(tmp_path / "a", SWARM)
    b = NodeProc(tmp_path / "b", SWARM, peers=a.addrs)
    c = NodeProc(tmp_path / "c", SWARM, peers=b.addrs)  # never talks to the rogue directly
    wait_for(lambda: len(b.ask("peers", "peers")["peers"]) == 2, timeout=20, what="b sees a and c")
    a.ask("publish", "done", n=3)
    wait_for(lambda: count(c) == 3, timeout=20, what="honest results reach c")
    with Ledger(a.ledger_path, readonly=True) as ledger:
        replay = ledger.results(SWARM)[0].raw
    honest = authors(a)

    rogue = NodeProc(tmp_path / "rogue", SWARM, peers=a.addrs + b.addrs, rogue=True)
    assert rogue.ask("attack", "attacked", timeout=30, replay=replay.hex())["sent"] == 6

    for node in (a, b):
        wait_for(lambda: rogue.peer_id in node.ask("blacklist", "blacklist")["peers"], timeout=20,
                 what=f"{node.home.name} blacklisted the rogue")
        assert node.ask("stats", "stats")["invalid"].get(rogue.peer_id, 0) >= 3

    b.ask("publish", "done", n=4)  # honest traffic keeps flowing, through b to a and c
    for node in (a, b, c):
        wait_for(lambda: count(node) == 7, timeout=20, what=f"{node.home.name} holds the 7 honest results")
        assert authors(node) == honest | authors(b)  # nothing of the rogue's stored
    assert c.ask("stats", "stats")["invalid"] == {}  # b and a forwarded nothing invalid to c
    for node in (a, b, c):
        assert node.stop() == 0
