"""A small internet in network namespaces: one public host, homes behind their own masquerading routers.

    with NatTopology(homes=2) as net:
        net.run("pub", ["python3", "-c", "..."])          # a command in the public namespace
        argv = net.wrap("home0", [sys.executable, ...])  # an argv that runs in home 0

Layout (``p`` is a per-run prefix, so parallel runs and stale leftovers never collide)::

    pub   eth0 198.51.100.10/24 ──┐
                                  │  br0 in namespace "inet" (the internet: a bridge, no address, no route out)
    rtr0  wan 198.51.100.20/24 ───┤
          lan 10.0.0.1/24 ── home0 eth0 10.0.0.2/24 (default route via its router)
    rtr1  wan 198.51.100.21/24 ───┘
          lan 10.0.1.1/24 ── home1 eth0 10.0.1.2/24

Each router masquerades what leaves its ``wan`` and drops every inbound packet that is not a reply (conntrack), on
forward and on input: a home reaches the public address, nothing from outside reaches a home, and homes cannot reach
each other except by a hole both sides punch. ``nat="symmetric"`` maps each new flow to a random port
(``masquerade random``), the NAT hole punching cannot cross. Every namespace has only its own links and no route off
them, so no packet leaves; :meth:`close` kills what runs inside and deletes them all, also when a test fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Sequence

__all__ = ["NatTopology", "PUBLIC_IP", "nat_tools_missing"]

PUBLIC_IP = "198.51.100.10"      # RFC 5737 documentation range: never routed on the real internet
WAN_BASE = 20                    # router i's WAN address is 198.51.100.(20 + i)
PREFIX = "snat"


def nat_tools_missing() -> str | None:
    """Why the topology cannot be built here (``None`` when it can): root, ``ip`` and ``nft`` are needed."""
    if os.geteuid() != 0:
        return "needs root for ip netns (CI runs as root)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs {tool} (.ci/run installs iproute2 and nftables)"
    return None


def _router_rules(nat: str) -> str:
    masquerade = "masquerade random" if nat == "symmetric" else "masquerade"
    return f"""
table ip nat {{
    chain post {{ type nat hook postrouting priority 100; oifname "wan" {masquerade}; }}
}}
table inet filter {{
    chain forward {{ type filter hook forward priority 0; policy drop;
        ct state established,related accept; iifname "lan" oifname "wan" accept; }}
    chain input {{ type filter hook input priority 0; policy drop;
        ct state established,related accept; iifname "lo" accept; iifname "lan" accept; }}
}}
"""


@dataclass
class NatTopology:
    """The namespaces of one test run (see the module docstring); a context manager that always cleans up."""

    homes: int = 2
    lan_hosts: int = 0                # more public hosts "lanN" on 198.51.100.(30 + N): nodes on one network
    nat: str = "cone"                 # "cone": Linux's port-preserving masquerade; "symmetric": random ports
    prefix: str = field(default_factory=lambda: f"{PREFIX}{os.getpid() % 100000}x{time.monotonic_ns() % 1000}")
    _made: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ naming

    def ns(self, name: str) -> str:
        """The real namespace name of ``pub``, ``inet``, ``rtrN`` or ``homeN``."""
        return f"{self.prefix}{name}"

    def home_ip(self, i: int) -> str:
        return f"10.0.{i}.2"

    def lan_ip(self, i: int) -> str:
        return f"198.51.100.{30 + i}"

    def eth_bytes(self, name: str) -> int:
        """Bytes received plus sent on the namespace's ``eth0`` so far."""
        import json

        out = subprocess.run(["ip", "-n", self.ns(name), "-s", "-j", "link", "show", "eth0"], capture_output=True,
                             text=True, check=True, timeout=10).stdout
        stats = json.loads(out)[0]["stats64"]
        return int(stats["rx"]["bytes"]) + int(stats["tx"]["bytes"])

    def wan_ip(self, i: int) -> str:
        return f"198.51.100.{WAN_BASE + i}"

    def wrap(self, name: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside namespace ``name``."""
        return ["ip", "netns", "exec", self.ns(name), *argv]

    def run(self, name: str, argv: Sequence[str], timeout: float = 10, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.wrap(name, argv), capture_output=True, text=True, timeout=timeout, check=check,
                              input=stdin)

    # ------------------------------------------------------------------ building

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)

    def _add(self, name: str) -> None:
        self._ip("netns", "add", self.ns(name))
        self._made.append(self.ns(name))
        self._ip("-n", self.ns(name), "link", "set", "lo", "up")

    def _link(self, a: str, a_if: str, b: str, b_if: str) -> None:
        """A veth pair between namespaces ``a`` and ``b``, both ends up."""
        self._ip("-n", self.ns(a), "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", self.ns(b))
        self._ip("-n", self.ns(a), "link", "set", a_if, "up")
        self._ip("-n", self.ns(b), "link", "set", b_if, "up")

    def _addr(self, name: str, dev: str, cidr: str) -> None:
        self._ip("-n", self.ns(name), "addr", "add", cidr, "dev", dev)

    def open(self) -> NatTopology:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        self._add("inet")
        self._ip("-n", self.ns("inet"), "link", "add", "br0", "type", "bridge")
        self._ip("-n", self.ns("inet"), "link", "set", "br0", "up")
        self._add("pub")
        self._link("pub", "eth0", "inet", "pub")
        self._ip("-n", self.ns("inet"), "link", "set", "pub", "master", "br0")
        self._addr("pub", "eth0", f"{PUBLIC_IP}/24")
        for i in range(self.lan_hosts):
            self._add(f"lan{i}")
            self._link(f"lan{i}", "eth0", "inet", f"l{i}")
            self._ip("-n", self.ns("inet"), "link", "set", f"l{i}", "master", "br0")
            self._addr(f"lan{i}", "eth0", f"{self.lan_ip(i)}/24")
        for i in range(self.homes):
            rtr, home = f"rtr{i}", f"home{i}"
            self._add(rtr)
            self._add(home)
            self._link(rtr, "wan", "inet", f"r{i}")
            self._ip("-n", self.ns("inet"), "link", "set", f"r{i}", "master", "br0")
            self._addr(rtr, "wan", f"{self.wan_ip(i)}/24")
            self._link(rtr, "lan", home, "eth0")
            self._addr(rtr, "lan", f"10.0.{i}.1/24")
            self._addr(home, "eth0", f"{self.home_ip(i)}/24")
            self._ip("-n", self.ns(home), "route", "add", "default", "via", f"10.0.{i}.1")
            self.run(rtr, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
            self.run(rtr, ["nft", "-f", "-"], stdin=_router_rules(self.nat))

    def close(self) -> None:
        """Kill every process left in the namespaces, then delete them (idempotent)."""
        for ns in self._made:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10).stdout
            for pid in pids.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self._made.clear()

    def __enter__(self) -> NatTopology:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
