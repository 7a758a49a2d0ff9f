"""The namespace internet of tests/integration/nattopo.py behaves like homes behind NAT routers.

Plain TCP sockets, no node: a home reaches the public host (which sees the router's address, not the home's), a home
cannot reach another home, and nothing from the public side reaches a home (neither its private address nor its
router's public one).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.nattopo import PUBLIC_IP, NatTopology, nat_tools_missing

pytestmark = pytest.mark.slow

SERVE = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); s.settimeout(8)
print("listening", flush=True)
conn, peer = s.accept(); print(peer[0], flush=True)
"""

DIAL = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5); print("connected")
except OSError as exc:
    print("failed", exc)
"""


def _serve(net: NatTopology, where: str, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(net.wrap(where, [sys.executable, "-c", SERVE, str(port)]), stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
    return proc


def _dial(net: NatTopology, where: str, ip: str, port: int) -> str:
    return net.run(where, [sys.executable, "-c", DIAL, ip, str(port)]).stdout.strip()


def test_homes_reach_the_public_host_through_their_nat_and_nothing_reaches_a_home(tmp_path: Path) -> None:
    missing = nat_tools_missing()
    assert missing is None, missing
    with NatTopology(homes=2) as net:
        server = _serve(net, "pub", 7000)
        assert _dial(net, "home0", PUBLIC_IP, 7000) == "connected"
        assert server.stdout is not None
        assert server.stdout.readline().strip() == net.wan_ip(0), "the public host sees the router, not the home"
        server.wait(5)

        home_server = _serve(net, "home0", 7001)
        assert _dial(net, "home1", net.home_ip(0), 7001).startswith("failed"), "a home reached another home"
        assert _dial(net, "home1", net.wan_ip(0), 7001).startswith("failed"), "the router let a stranger in"
        assert _dial(net, "pub", net.wan_ip(0), 7001).startswith("failed"), "the router let the public host in"
        assert _dial(net, "pub", net.home_ip(0), 7001).startswith("failed"), "a private address was routable"
        assert _dial(net, "home0", "127.0.0.1", 7001) == "connected", "the home's own listener works"
        home_server.wait(5)
        names = list(net._made)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(name in listed for name in names), "namespaces left behind"


def test_namespaces_are_deleted_when_the_test_body_fails() -> None:
    missing = nat_tools_missing()
    assert missing is None, missing
    names: list[str] = []
    with pytest.raises(RuntimeError):
        with NatTopology(homes=1) as net:
            names = list(net._made)
            subprocess.Popen(net.wrap("home0", ["sleep", "60"]))
            raise RuntimeError("the test failed")
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert names and not any(name in listed for name in names)
