"""The network part of the feed's peer panel: this node's reachability (AutoNAT) and how it reaches each peer.

A running node stores :func:`node.net.relay.Relays.panel` under ``STATE_NET`` every few seconds; the feed, the
dashboard and ``swarm-node status`` read it back through :func:`net_state` (the state is this node's own, but read
strictly all the same: a damaged or hand-edited ledger shows nothing rather than crashing a view).
"""

from __future__ import annotations

from typing import Any

__all__ = ["STATE_NET", "net_state", "net_lines", "REACHABILITY_NOTE"]

STATE_NET = "net"
LINKS = ("direct", "relayed")
REACHABILITY_NOTE = {
    "public": "peers dial this node directly",
    "private": "behind NAT: peers reach this node through a relay",
    "unknown": "not known yet (AutoNAT asks connected peers to dial back)",
}
MAX_PEERS = 1_000


def net_state(raw: Any) -> dict[str, Any] | None:
    """``{"reachability": str, "links": {peer: "direct"|"relayed"}, "relaying": int}`` from the stored state."""
    if not isinstance(raw, dict) or raw.get("reachability") not in REACHABILITY_NOTE:
        return None
    links_in = raw.get("links")
    links = {p: k for p, k in list(links_in.items())[:MAX_PEERS] if isinstance(p, str) and k in LINKS} \
        if isinstance(links_in, dict) else {}
    relaying = raw.get("relaying")
    return {"reachability": raw["reachability"], "links": links,
            "relaying": relaying if isinstance(relaying, int) and not isinstance(relaying, bool) else 0}


def net_lines(net: dict[str, Any] | None) -> list[str]:
    """Plain lines for the terminal feed and ``status``."""
    if not net:
        return []
    kinds = list(net["links"].values())
    lines = [f"reachable {net['reachability']}: {REACHABILITY_NOTE[net['reachability']]}",
             f"links {kinds.count('direct')} direct, {kinds.count('relayed')} relayed"
             + (f"; relaying {net['relaying']} circuit(s) for others" if net["relaying"] else "")]
    return lines
