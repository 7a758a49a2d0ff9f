"""``swarm-node status`` beside a real node: running while it runs, "not running (stale ...)" after a SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.cliproc import Cli
from tests.integration.nodeproc import ROOT

pytestmark = pytest.mark.slow

LOCAL = ["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"]


def status(home: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "node", "status", "--home", str(home)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_status_after_the_node_is_sigkilled_says_not_running(tmp_path: Path) -> None:
    home = tmp_path / "home"
    node = Cli("join", "--watch", "--home", str(home), *LOCAL)
    node.line_with("Ctrl-C to leave", 60)
    pid = node.proc.pid
    assert f"running, pid {pid}" in status(home)
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(timeout=20)
    assert (home / "node.json").exists()  # nothing could remove it
    after = status(home)
    assert "running, pid" not in after and "not running (stale node.json" in after and str(pid) in after, after
