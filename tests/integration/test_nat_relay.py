"""Nodes behind NAT, for real: homes behind masquerading routers join a public node and reach each other through it.

The topology is tests/integration/nattopo.py (namespaces; no packet leaves them), with symmetric NATs: homes cannot
reach each other at all, hole punching (DCUtR) cannot cross them, so every home-to-home exchange below goes through
the public node's circuit relay (tests/integration/test_nat_dcutr.py shows the upgrade where the NATs allow it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.ledger import Ledger
from tests.integration.nattopo import PUBLIC_IP, NatTopology, nat_tools_missing
from tests.integration.nodeproc import NodeProc
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SWARM = bytes.fromhex("4e" * 32)
TRAIN = "# train.py from home A\nprint('val_bpb', 1.5)\n"


def count(node: NodeProc) -> int:
    with Ledger(node.ledger_path, readonly=True) as ledger:
        return ledger.count(SWARM)


def circuit(node: NodeProc) -> list[str]:
    return [a for a in node.ask("addrs", "addrs")["addrs"] if "/p2p-circuit/" in a]


def test_homes_behind_nat_exchange_results_commits_and_sync_through_the_public_relay(tmp_path: Path) -> None:
    missing = nat_tools_missing()
    assert missing is None, missing
    with NatTopology(homes=3, nat="symmetric") as net:
        nodes: list[NodeProc] = []
        try:
            public = NodeProc(tmp_path / "public", SWARM, listen=f"/ip4/{PUBLIC_IP}/tcp/4001", wrap=net.wrap("pub", []))
            nodes.append(public)
            homes = [NodeProc(tmp_path / f"home{i}", SWARM, listen="/ip4/0.0.0.0/tcp/4001", peers=public.addrs,
                              wrap=net.wrap(f"home{i}", []), wait=False) for i in range(2)]
            nodes += homes
            a, b = [home.ready() for home in homes]
            for home in (a, b):
                addrs = wait_for(lambda: circuit(home), timeout=30, what=f"{home.home.name} reserved a relay slot")
                assert addrs[0].startswith(f"/ip4/{PUBLIC_IP}/tcp/4001/p2p/{public.peer_id}/p2p-circuit/p2p/")
                assert addrs[0].endswith(home.peer_id)
            assert not circuit(public), "the public node needs no relay"
            wait_for(lambda: public.ask("addrs", "addrs")["reachability"] == "public", timeout=30,
                     what="AutoNAT: the public node learns it is reachable")
            for home in (a, b):
                wait_for(lambda: home.ask("addrs", "addrs")["reachability"] == "private", timeout=30,
                         what=f"AutoNAT: {home.home.name} learns it is behind NAT")
                addrs = home.ask("addrs", "addrs")["addrs"]
                assert addrs and all("/p2p-circuit/" in a for a in addrs), f"only working addresses: {addrs}"

            published = a.ask("claim_result", "published", text=TRAIN, metric=1.5, budget_tokens=1000)
            wait_for(lambda: count(b) >= 1, timeout=30, what="home A's result reached home B")
            wait_for(lambda: a.peer_id in b.ask("peers", "peers")["peers"], timeout=30,
                     what="home B connected to home A through the relay")
            assert b.ask("links", "links")["links"][a.peer_id] == "relayed"
            blob = _blob_of(b, bytes.fromhex(published["id"]))
            assert b.ask("fetch_commit", "commit", blob=blob, timeout=30)["ok"], "home B fetched A's commit"
            with Ledger(b.ledger_path, readonly=True) as ledger:
                assert ledger.get_commit(blob) == TRAIN.encode()

            b.ask("publish", "done", n=3)
            wait_for(lambda: count(a) == 4, timeout=30, what="home B's results reached home A")

            late = NodeProc(tmp_path / "home2", SWARM, listen="/ip4/0.0.0.0/tcp/4001", peers=public.addrs,
                            wrap=net.wrap("home2", []), env={"SWARM_NODE_SYNC_INTERVAL": "60"})
            nodes.append(late)
            wait_for(lambda: count(late) == 4, timeout=30, what="the late home caught up by sync")
            wait_for(lambda: circuit(late), timeout=30, what="the late home reserved a relay slot")
            wait_for(lambda: {a.peer_id, b.peer_id} <= set(late.ask("peers", "peers")["peers"]), timeout=40,
                     what="the late home reached both homes through the relay")
            codes = NodeProc.stop_all(nodes)
            assert codes == [0] * len(nodes), [n.stderr_tail() for n, c in zip(nodes, codes) if c != 0]
        finally:
            for node in nodes:
                if node.proc.poll() is None:
                    node.kill()


def _blob_of(node: NodeProc, message_id: bytes) -> str:
    with Ledger(node.ledger_path, readonly=True) as ledger:
        row = ledger.get_result(message_id)
    assert row is not None, "the result is in the ledger"
    return str(row.blob)
