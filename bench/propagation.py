"""Propagation: how fast one result reaches 50%, 95% and 100% of N nodes, raw GossipSub vs NodeService.

    .venv/bin/python bench/propagation.py [--sizes 10,20,50] [--results 30] [--per-proc 10]
    .venv/bin/python bench/propagation.py --muxer [--sizes 10,20]   # NodeService over Mplex only vs Yamux only

For each N, two runs side by side on 127.0.0.1 with several hosts per process:
  raw:  bare py-libp2p hosts + GossipSub (Mplex, the same mesh parameters), a validator that accepts all;
        a message counts as arrived when a subscription yields it;
  node: NodeService per host (validation by protocol, ledger write in SQLite, sync every 5 s); a result
        counts as arrived when it is stored in that host's ledger.
With ``--muxer`` the two runs are instead ``node`` over Mplex alone and ``node`` over Yamux alone (the same
topology, publishers and mesh), to compare the CPU each muxer costs.
Each host dials 3 random others. One random host publishes each result, 0.25 s apart. Reach times are
measured against the publish instant (one machine, one clock); median and p95 over the results.
Bytes per result per node: loopback bytes during the publishing phase / (results x N) (psutil; other
loopback traffic on the machine is counted too). CPU ms per result: all workers' CPU time during that
phase (heartbeats and sync included) / results.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import trio

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "/bench/1/results"


# --------------------------------------------------------------------------- worker side

def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def stdin_lines() -> Any:
    stream = trio.lowlevel.FdStream(os.dup(0))
    buffer = b""
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)


class RawHost:
    def __init__(self, index: int, receipts: list[tuple[str, int, float]]) -> None:
        from libp2p.custom_types import TProtocol
        from libp2p.pubsub.gossipsub import GossipSub
        from libp2p.pubsub.pubsub import Pubsub

        from node.net.host import build_host
        from protocol import Identity

        self.index = index
        self.host, self.listen = build_host(Identity.generate().private_bytes, ["/ip4/127.0.0.1/tcp/0"])
        self.gossip = GossipSub(protocols=[TProtocol("/meshsub/1.1.0")], degree=6, degree_low=4, degree_high=12,
                                heartbeat_interval=1, max_messages_per_topic_per_second=1e9)
        self.pubsub = Pubsub(self.host, self.gossip, msg_id_constructor=lambda m: hashlib.sha256(m.data).digest())
        self.receipts = receipts

    async def run(self, task_status: Any) -> None:
        from libp2p.tools.anyio_service import background_trio_service

        async with self.host.run(listen_addrs=self.listen), background_trio_service(self.pubsub), \
                background_trio_service(self.gossip):
            await self.pubsub.wait_until_ready()
            self.pubsub.set_topic_validator(TOPIC, lambda peer, msg: True, False)
            sub = await self.pubsub.subscribe(TOPIC)
            task_status.started()
            while True:
                msg = await sub.get()
                self.receipts.append((msg.data.decode(), self.index, time.time()))

    def addr(self) -> str:
        from node.net.host import peer_addrs
        return peer_addrs(self.host)[0]

    async def publish(self, tag: str) -> None:
        await self.pubsub.publish(TOPIC, tag.encode())


class NodeHost:
    def __init__(self, index: int, receipts: list[tuple[str, int, float]], home: Path) -> None:
        from node.config import load_config
        from node.ledger import Ledger
        from node.net.links import NetSettings
        from protocol import Identity

        self.index = index
        self.receipts = receipts
        self.ledger = Ledger(home / f"h{index}.sqlite")
        self.identity = Identity.generate()
        self.config = load_config(env={}, overrides={"home": home, "mdns": False})
        self.settings = NetSettings(listen=("/ip4/127.0.0.1/tcp/0",), mdns=False, dht=False,
                                    sync_interval=float(os.environ.get("BENCH_SYNC_INTERVAL", "5")))
        self.svc: Any = None

    async def run(self, task_status: Any) -> None:
        from node.net.service import NodeService

        async with NodeService(self.config, self.identity, self.ledger, b"\xbe" * 32, settings=self.settings) as svc:
            self.svc = svc
            channel = svc.results_channel(100_000)
            task_status.started()
            async for verified in channel:
                self.receipts.append((verified.message.description, self.index, time.time()))

    def addr(self) -> str:
        return str(self.svc.addrs()[0])

    async def publish(self, tag: str) -> None:
        from protocol import BudgetRule, Result, git_blob_hash
        await self.svc.publish_result(Result(
            swarm_id=b"\0" * 32, author=b"\0" * 32, seq=1, created_at=time.time(), commit="", parent="",
            blob=git_blob_hash(tag.encode()), metric=3.0, status="discard", hw_class="cpu:2t", hw_fingerprint="bench",
            budget=BudgetRule(kind="seconds", amount=60), steps=100, tokens=12800, wall_seconds=60.0,
            peak_memory_mb=300.0, description=tag))


async def worker(mode: str, first: int, count: int, home: Path) -> None:
    from node.net.host import parse_peer_addr
    from node.net.logs import route_libp2p_logs

    route_libp2p_logs(None)
    muxer = os.environ.get("BENCH_MUXER")
    if muxer:  # offer this muxer alone (--muxer)
        import node.net.host as host_module

        host_module.MUXERS = {k: v for k, v in host_module.MUXERS.items() if muxer in k}
    receipts: list[tuple[str, int, float]] = []
    published: list[tuple[str, int, float]] = []
    hosts = [RawHost(first + i, receipts) if mode == "raw" else NodeHost(first + i, receipts, home)
             for i in range(count)]
    async with trio.open_nursery() as nursery:
        for h in hosts:
            await nursery.start(h.run)
        emit(addrs={h.index: h.addr() for h in hosts})
        async for cmd in stdin_lines():
            if cmd["cmd"] == "connect":
                failed: list[str] = []
                for h in hosts:
                    for addr in cmd["targets"].get(str(h.index), []):
                        try:
                            await h.host.connect(parse_peer_addr(addr)) if mode == "raw" \
                                else await h.svc.connect(addr)
                        except Exception as exc:
                            failed.append(repr(exc)[:200])
                emit(connected=True, failed=failed)
            elif cmd["cmd"] == "publish":
                h = next(h for h in hosts if h.index == cmd["host"])
                published.append((cmd["tag"], h.index, time.time()))
                await h.publish(cmd["tag"])
            elif cmd["cmd"] == "report":
                emit(receipts=receipts, published=published)
                break
        nursery.cancel_scope.cancel()


# --------------------------------------------------------------------------- coordinator side

class Proc:
    def __init__(self, mode: str, first: int, count: int, home: Path) -> None:
        self.p = subprocess.Popen([sys.executable, __file__, "--worker", mode, str(first), str(count), str(home)],
                                  cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})

    def send(self, **cmd: Any) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("worker died")
        return json.loads(line)


def loopback_bytes() -> int:
    counters = psutil.net_io_counters(pernic=True)
    return counters["lo"].bytes_sent if "lo" in counters else 0


def run_once(mode: str, n: int, results: int, per_proc: int) -> dict[str, float]:
    rng = random.Random(n)  # the same topology and publishers for both modes
    with tempfile.TemporaryDirectory() as tmp:
        procs = [Proc(mode, i, min(per_proc, n - i), Path(tmp)) for i in range(0, n, per_proc)]
        owner: dict[int, Proc] = {}
        addrs: dict[int, str] = {}
        for proc in procs:
            got = proc.read()["addrs"]
            for index, addr in got.items():
                owner[int(index)], addrs[int(index)] = proc, addr
        targets: dict[str, list[str]] = {}
        for i in range(n):
            others = [j for j in range(n) if j != i]
            targets[str(i)] = [addrs[j] for j in rng.sample(others, min(3, len(others)))]
        for proc in procs:
            proc.send(cmd="connect", targets=targets)
        for proc in procs:
            failed = proc.read()["failed"]
            if failed:
                print(f"  {mode}: {len(failed)} dials failed, e.g. {failed[0]}", file=sys.stderr)
        time.sleep(3.0)  # a few heartbeats: the mesh forms
        before = loopback_bytes()
        workers = [psutil.Process(proc.p.pid) for proc in procs]
        cpu_before = sum(sum(w.cpu_times()[:2]) for w in workers)
        for r in range(results):
            host = rng.randrange(n)
            owner[host].send(cmd="publish", host=host, tag=f"bench-{r}")
            time.sleep(0.25)
        time.sleep(3.0)
        wire = loopback_bytes() - before
        cpu = sum(sum(w.cpu_times()[:2]) for w in workers) - cpu_before
        receipts: list[tuple[str, int, float]] = []
        published: dict[str, tuple[int, float]] = {}
        for proc in procs:
            proc.send(cmd="report")
        for proc in procs:
            rep = proc.read()
            receipts += [tuple(x) for x in rep["receipts"]]  # type: ignore[misc]
            published.update({tag: (host, t) for tag, host, t in rep["published"]})
            proc.p.wait(30)
    reach: dict[float, list[float]] = {0.5: [], 0.95: [], 1.0: []}
    complete = 0
    need = n - 1  # the publisher itself is not counted
    for tag, (origin, t0) in published.items():
        times = sorted(t - t0 for (tg, host, t) in receipts if tg == tag and host != origin)
        if len(times) >= need:
            complete += 1
        for q in reach:
            k = max(1, int(round(q * need)))
            if len(times) >= k:
                reach[q].append(times[k - 1] * 1000)
    out: dict[str, float] = {"complete": complete / max(1, len(published)), "bytes": wire / (results * n),
                             "cpu": cpu * 1000 / results}
    for q, xs in reach.items():
        out[f"p50@{q}"] = statistics.median(xs) if xs else float("nan")
        out[f"p95@{q}"] = sorted(xs)[int(0.95 * (len(xs) - 1))] if xs else float("nan")
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, mode, first, count, home = sys.argv
        trio.run(worker, mode, int(first), int(count), Path(home))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,20,50")
    parser.add_argument("--results", type=int, default=30)
    parser.add_argument("--per-proc", type=int, default=10)
    parser.add_argument("--muxer", action="store_true", help="NodeService over Mplex alone vs Yamux alone")
    args = parser.parse_args()
    if args.muxer:
        compare_muxers(args)
        return
    print("issue's raw py-libp2p figures on this machine: 20 hosts median 122 ms / max 278 ms to reach all; "
          "50 hosts median 421 ms")
    print(f"{'N':>3} {'mode':<5} {'50% med/p95 ms':>16} {'95% med/p95 ms':>16} {'100% med/p95 ms':>17} "
          f"{'complete':>9} {'B/result/node':>14} {'CPU ms/result':>14}")
    for n in (int(x) for x in args.sizes.split(",")):
        rows = {mode: run_once(mode, n, args.results, args.per_proc) for mode in ("raw", "node")}
        for mode, r in rows.items():
            print(f"{n:>3} {mode:<5} {r['p50@0.5']:>7.0f}/{r['p95@0.5']:<8.0f} {r['p50@0.95']:>7.0f}/{r['p95@0.95']:<8.0f} "
                  f"{r['p50@1.0']:>7.0f}/{r['p95@1.0']:<9.0f} {r['complete']:>8.0%} {r['bytes']:>14.0f} "
                  f"{r['cpu']:>14.0f}")
        ratio = rows["node"]["p50@1.0"] / rows["raw"]["p50@1.0"] if rows["raw"]["p50@1.0"] else float("nan")
        print(f"{n:>3} node/raw median time to reach all: {ratio:.2f}x")
        sys.stdout.flush()


def compare_muxers(args: argparse.Namespace) -> None:
    print(f"{'N':>3} {'muxer':<6} {'100% med/p95 ms':>17} {'complete':>9} {'B/result/node':>14} {'CPU ms/result':>14}")
    for n in (int(x) for x in args.sizes.split(",")):
        rows: dict[str, dict[str, float]] = {}
        for muxer in ("mplex", "yamux"):
            os.environ["BENCH_MUXER"] = muxer
            rows[muxer] = run_once("node", n, args.results, args.per_proc)
        os.environ.pop("BENCH_MUXER", None)
        for muxer, r in rows.items():
            print(f"{n:>3} {muxer:<6} {r['p50@1.0']:>7.0f}/{r['p95@1.0']:<9.0f} {r['complete']:>8.0%} "
                  f"{r['bytes']:>14.0f} {r['cpu']:>14.0f}")
        print(f"{n:>3} yamux/mplex CPU per result: {rows['yamux']['cpu'] / rows['mplex']['cpu']:.2f}x, "
              f"time to reach all: {rows['yamux']['p50@1.0'] / rows['mplex']['p50@1.0']:.2f}x")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
