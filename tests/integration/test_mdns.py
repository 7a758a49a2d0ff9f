"""mDNS for real: two nodes with no bootstrap peer find each other on the LAN.

The LAN is a private network namespace (``unshare -rn``) whose only interface is its own loopback, with multicast
switched on: zeroconf's packets are real, and none can leave that namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from node.ledger import Ledger
from tests.integration.nodeproc import ROOT
from tests.waiting import wait_for

pytestmark = pytest.mark.slow

LAN = "ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo"


def _node_id(home: Path) -> str | None:
    try:
        return str(json.loads((home / "node.json").read_text())["peer_id"])
    except (OSError, ValueError, KeyError):
        return None


def _peers(home: Path) -> list[str]:
    try:
        with Ledger(home / "ledger.sqlite", readonly=True) as ledger:
            return ledger.status.peers()
    except Exception:  # not created yet, or mid-migration
        return []


def test_two_nodes_find_each_other_by_mdns_alone(tmp_path: Path) -> None:
    assert shutil.which("unshare") and shutil.which("ip"), "needs util-linux and iproute2 (.ci/run installs them)"
    a, b = tmp_path / "a", tmp_path / "b"
    join = f"{sys.executable} -m node join --watch --listen /ip4/127.0.0.1/tcp/0 --home"
    script = f"{LAN} && ({join} {a} & {join} {b} & wait)"
    lan = subprocess.Popen(["unshare", "-rn", "bash", "-c", script], cwd=ROOT, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: _node_id(a) and _node_id(b), timeout=60, what="both nodes running")
        wait_for(lambda: _node_id(b) in _peers(a) and _node_id(a) in _peers(b), timeout=60,
                 what="each node connected to the other, found by mDNS (no --peer given)")
    finally:
        os.killpg(lan.pid, signal.SIGINT)
        try:  # under a second when quiet; over 30 s seen inside a full CI run (an open finding), so not waited for
            lan.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(lan.pid, signal.SIGKILL)
            lan.wait(timeout=10)
