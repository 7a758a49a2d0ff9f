"""Hole punching for real: two homes behind port-preserving NATs meet through the relay, then go direct (DCUtR), and the
relay's circuit is released (node/net/holepunch.py: py-libp2p kept it a minute).

Linux masquerade keeps a flow's source port when it is free, the NAT behaviour of most home routers; py-libp2p's DCUtR
dials from the listen port (SO_REUSEPORT) at both ends at once, and the TCP simultaneous open crosses both routers.
(Behind symmetric NATs the pair stays relayed: tests/integration/test_nat_relay.py. Rates: bench/nat.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.ledger import Ledger
from tests.integration.nattopo import PUBLIC_IP, NatTopology, nat_tools_missing
from tests.integration.nodeproc import NodeProc
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

SWARM = bytes.fromhex("4f" * 32)


def count(node: NodeProc) -> int:
    with Ledger(node.ledger_path, readonly=True) as ledger:
        return ledger.count(SWARM)


def test_two_homes_behind_cone_nats_upgrade_their_relayed_connection_to_a_direct_one(tmp_path: Path) -> None:
    missing = nat_tools_missing()
    assert missing is None, missing
    with NatTopology(homes=2, nat="cone") as net:
        nodes: list[NodeProc] = []
        try:
            public = NodeProc(tmp_path / "public", SWARM, listen=f"/ip4/{PUBLIC_IP}/tcp/4001", wrap=net.wrap("pub", []))
            nodes.append(public)
            homes = [NodeProc(tmp_path / f"home{i}", SWARM, listen="/ip4/0.0.0.0/tcp/4001", peers=public.addrs,
                              wrap=net.wrap(f"home{i}", []), wait=False) for i in range(2)]
            nodes += homes
            a, b = [home.ready() for home in homes]
            for home in (a, b):
                wait_for(lambda: [x for x in home.ask("addrs", "addrs")["addrs"] if "/p2p-circuit/" in x],
                         timeout=30, what=f"{home.home.name} reserved a relay slot")
            a.ask("publish", "done", n=1)  # b learns of a as an author and reaches it through the relay
            wait_for(lambda: b.ask("links", "links")["links"].get(a.peer_id) == "direct", timeout=60, interval=0.5,
                     what="home B's connection to home A upgraded to direct (DCUtR)")
            assert a.ask("links", "links")["links"].get(b.peer_id) == "direct"
            assert public.ask("relay", "relay")["circuits"] >= 1, "the pair met through the public node's relay"
            wait_for(lambda: public.ask("relay", "relay")["circuits"] == 0, timeout=30, interval=0.5,
                     what="the relay's circuit released after the direct upgrade")
            assert a.ask("relay", "relay")["released"] + b.ask("relay", "relay")["released"] >= 1
            assert b.ask("links", "links")["links"].get(a.peer_id) == "direct", "the direct connection stays"
            b.ask("publish", "done", n=2)
            wait_for(lambda: count(a) == 3, timeout=30, what="results flow over the direct connection")
            codes = NodeProc.stop_all(nodes)
            assert codes == [0] * len(nodes), [n.stderr_tail() for n, c in zip(nodes, codes) if c != 0]
        finally:
            for node in nodes:
                if node.proc.poll() is None:
                    node.kill()
