"""NAT traversal: joining through a relay, hole punching, relay cost; beside two nodes on one network.

    sudo .venv/bin/python bench/nat.py [--trials 20] [--results 20]

Runs in the namespace internet of tests/integration/nattopo.py (root; no packet leaves the namespaces). Each trial
builds a fresh topology: a public node P (198.51.100.10) and two nodes A and B, either
  lan:       A and B public on P's network (no NAT),
  cone:      A and B each behind a port-preserving masquerading router (most home routers),
  symmetric: A and B each behind a router that maps every flow to a random port (hole punching cannot cross).
A starts, reserves a relay slot on P (behind NAT), then B starts ("join"); A publishes one result once B is up.
Figures per kind, median over the trials:
  join->result: B's start to B holding A's result;   join->link: B's start to a connection B-A (relayed behind NAT);
  link->direct: that connection upgraded to direct (DCUtR), and the share of trials where it did within 20 s;
  relay freed: the upgrade to P relaying no circuit (node/net/holepunch.py closes the relayed leg after 10 s);
  P bytes/result: bytes through P's interface while A publishes ``--results`` more results / results
  (behind symmetric NATs P relays A<->B besides gossiping; on one network P only gossips).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: its noise.py would shadow the noise package py-libp2p imports

from node.ledger import Ledger  # noqa: E402
from tests.integration.nattopo import PUBLIC_IP, NatTopology, nat_tools_missing  # noqa: E402
from tests.integration.nodeproc import NodeProc  # noqa: E402

SWARM = bytes.fromhex("4b" * 32)


def _count(node: NodeProc) -> int:
    try:
        with Ledger(node.ledger_path, readonly=True) as ledger:
            return ledger.count(SWARM)
    except Exception:
        return 0


def _until(predicate: Any, timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until ``predicate()`` holds, or None after ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def trial(kind: str, results: int) -> dict[str, float | None]:
    nat = "symmetric" if kind == "symmetric" else "cone"
    homes, lans = (0, 2) if kind == "lan" else (2, 0)
    where = ["lan0", "lan1"] if kind == "lan" else ["home0", "home1"]
    listen = ([f"/ip4/198.51.100.{30 + i}/tcp/4001" for i in range(2)] if kind == "lan"
              else ["/ip4/0.0.0.0/tcp/4001"] * 2)
    with tempfile.TemporaryDirectory() as tmp, NatTopology(homes=homes, lan_hosts=lans, nat=nat) as net:
        nodes: list[NodeProc] = []
        try:
            p = NodeProc(Path(tmp) / "p", SWARM, listen=f"/ip4/{PUBLIC_IP}/tcp/4001", wrap=net.wrap("pub", []),
                         wait=False).ready(180)
            nodes.append(p)
            a = NodeProc(Path(tmp) / "a", SWARM, listen=listen[0], peers=p.addrs, wrap=net.wrap(where[0], []),
                         wait=False).ready(180)
            nodes.append(a)
            if kind != "lan":
                _until(lambda: any("/p2p-circuit/" in x for x in a.ask("addrs", "addrs")["addrs"]), 30)
            start = time.monotonic()
            b = NodeProc(Path(tmp) / "b", SWARM, listen=listen[1], peers=p.addrs, wrap=net.wrap(where[1], []),
                         wait=False).ready(180)
            nodes.append(b)
            a.ask("publish", "done", n=1)
            got = _until(lambda: _count(b) >= 1, 60)
            to_result = None if got is None else time.monotonic() - start
            linked = _until(lambda: a.peer_id in b.ask("links", "links")["links"], 60)
            to_link = None if linked is None else time.monotonic() - start
            direct = _until(lambda: b.ask("links", "links")["links"].get(a.peer_id) == "direct", 20, 0.25)
            released = None if direct is None else _until(lambda: p.ask("relay", "relay")["circuits"] == 0, 30, 0.25)
            before = net.eth_bytes("pub")
            a.ask("publish", "done", n=results, timeout=60)
            _until(lambda: _count(b) >= results + 1, 60)
            per_result = (net.eth_bytes("pub") - before) / results
            NodeProc.stop_all(nodes)
            return {"result": to_result, "link": to_link, "direct": direct, "released": released, "bytes": per_result}
        finally:
            for node in nodes:
                if node.proc.poll() is None:
                    node.kill()


def _median(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    return f"{statistics.median(got):.2f}" if got else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="cone and symmetric trials (upgrade rates); lan: 1/10")
    parser.add_argument("--results", type=int, default=20)
    args = parser.parse_args()
    missing = nat_tools_missing()
    if missing:
        sys.exit(f"bench/nat.py {missing}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench/nat.py: terminated"))  # namespaces go in finally
    plan = {"lan": max(1, args.trials // 10), "cone": args.trials, "symmetric": args.trials}
    print(f"{'kind':10} {'trials':>6} {'join->result s':>15} {'join->link s':>13} {'link->direct s':>15} "
          f"{'upgraded':>9} {'relay freed s':>14} {'P bytes/result':>15}")
    rows: dict[str, list[dict[str, float | None]]] = {}
    for kind, n in plan.items():
        rows[kind] = []
        for i in range(n):
            try:
                rows[kind].append(trial(kind, args.results))
            except AssertionError as exc:  # a node that did not start in time (a loaded machine): a failed trial
                print(f"  {kind} trial {i + 1}/{n} failed: {str(exc)[:200]}", file=sys.stderr, flush=True)
                rows[kind].append({"result": None, "link": None, "direct": None, "released": None, "bytes": None})
                continue
            print(f"  {kind} trial {i + 1}/{n}: {rows[kind][-1]}", file=sys.stderr, flush=True)
        runs = rows[kind]
        upgraded = sum(1 for r in runs if r["direct"] is not None)
        share = "n/a" if kind == "lan" else f"{upgraded}/{n}"
        print(f"{kind:10} {n:>6} {_median([r['result'] for r in runs]):>15} {_median([r['link'] for r in runs]):>13} "
              f"{'-' if kind == 'lan' else _median([r['direct'] for r in runs]):>15} {share:>9} "
              f"{'-' if kind == 'lan' else _median([r['released'] for r in runs]):>14} "
              f"{_median([r['bytes'] for r in runs]):>15}", flush=True)
    lan = statistics.median([r["bytes"] or 0 for r in rows["lan"]]) or 1.0
    sym = statistics.median([r["bytes"] or 0 for r in rows["symmetric"]])
    print(f"relay cost: P moves {sym / lan:.2f}x the bytes per result behind symmetric NATs vs one network")


if __name__ == "__main__":
    main()
