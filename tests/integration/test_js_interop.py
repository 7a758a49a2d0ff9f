"""A stock js-libp2p node (npm: libp2p, TCP, Noise, Yamux, GossipSub; pinned in tests/js/package.json) against a
running ``swarm-node join``: it reads the swarm's results, and its junk gets it banned, and only it.

Needs ``node`` and ``npm ci`` in tests/js (``.ci/run`` does both).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from node.ledger import Ledger
from node.net.gossip import Topics
from protocol import Result, decode_and_verify
from tests.integration.cliproc import Cli
from tests.integration.nodeproc import ROOT, NodeProc
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

JS = ROOT / "tests" / "js"
LOCAL = ["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"]


class JsNode:
    """``node tests/js/client.mjs ADDR TOPIC``: its JSON lines collected as they come."""

    def __init__(self, addr: str, topic: str) -> None:
        self.proc = subprocess.Popen(["node", str(JS / "client.mjs"), addr, topic], cwd=JS, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got = self.events.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if got["event"] == event:
                return got
        err = self.proc.stderr.read() if self.proc.poll() is not None and self.proc.stderr else ""
        raise AssertionError(f"js node: no {event!r} in {timeout}s (rc={self.proc.poll()}): {err[-2000:]}")

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


def status(home: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "node", "status", "--json", "--home", str(home)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_stock_js_libp2p_node_reads_results_and_its_junk_bans_only_it(tmp_path: Path) -> None:
    assert shutil.which("node") and (JS / "node_modules").is_dir(), "install the js client: npm ci --prefix tests/js"
    seeded = subprocess.run([sys.executable, "-m", "node", "seed", str(ROOT / "node" / "assets" / "program.md"),
                             "--home", str(tmp_path / "seeder"), "--budget", "30s"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert seeded.returncode == 0, seeded.stderr
    swarm_hex = next(line.split()[-1] for line in seeded.stdout.splitlines() if line.startswith("swarm id:"))
    swarm_id = bytes.fromhex(swarm_hex)
    node = Cli("join", swarm_hex, "--home", str(tmp_path / "seeder"), "--watch", *LOCAL)
    addr = node.line_with("join string:", 60).split()[-1].split("@", 1)[1]

    js = JsNode(addr, Topics(swarm_id).results)
    ready = js.wait("ready", 60)
    assert ready["muxer"] == "/yamux/1.0.0" and ready["encryption"] == "/noise"

    publisher = NodeProc(tmp_path / "publisher", swarm_id, peers=[addr])
    js_addr = ready["addr"] if "/p2p/" in ready["addr"] else f"{ready['addr']}/p2p/{ready['peer_id']}"
    dialled = publisher.ask("connect", "connected", addr=js_addr)  # and a swarm node dials the js node
    assert dialled["peer"] == ready["peer_id"]
    publisher.ask("publish", "done", n=1)
    node.line_with("synthetic", 30)
    verified = decode_and_verify(bytes.fromhex(js.wait("message", 30)["data"]), expected_swarm=swarm_id)
    assert isinstance(verified.message, Result) and verified.message.description.startswith("synthetic")

    js.send("attack")
    assert js.wait("attacked", 30)["sent"] == 3
    wait_for(lambda: [b["peer"] for b in status(tmp_path / "seeder")["bans"]] == [ready["peer_id"]], timeout=30,
             what="the node banned the js peer, and only it")
    assert node.proc.poll() is None, "the node died"
    publisher.ask("publish", "done", n=1)  # honest traffic still flows through the node
    node.line_with("synthetic", 30)
    js.send("stop")
    publisher.send("stop")  # it and the node leave at once
    code, err = node.interrupt()
    assert code == 0 and "stopped" in err, err[-2000:]
    assert publisher.stop() == 0
    with Ledger(tmp_path / "seeder" / "ledger.sqlite", readonly=True) as ledger:
        assert ledger.count(swarm_id) == 2  # the two honest results; none of the junk
        ban = next(b for b in ledger.bans() if b[0] == ready["peer_id"])
        assert "invalid messages" in ban[1] and ban[2] > time.time()

