"""Join strings: what a user pastes to join a swarm.

``swarm://<swarm id, 64 hex>@<multiaddr>[,<multiaddr>...]``, e.g.
``swarm://3f2a...@/ip4/192.168.1.5/tcp/4001/p2p/12D3KooW...``. Each multiaddr must parse (``multiaddr`` package)
and name the peer with a ``/p2p/<peer id>`` component, because libp2p dials authenticated peers only. A bare swarm
id (64 hex characters) or ``swarm://<swarm id>`` with no peers is also accepted: peers then come from mDNS, the
configured bootstrap list or the DHT.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Iterable

import multiaddr
from multiaddr.exceptions import Error as MultiaddrLibError

from node.errors import JoinStringError

__all__ = ["Join", "parse_join", "format_join", "check_peer_multiaddr", "MAX_JOIN_LENGTH", "MAX_JOIN_PEERS"]

log = logging.getLogger(__name__)

SCHEME = "swarm://"
MAX_JOIN_LENGTH = 4096
MAX_JOIN_PEERS = 16
MAX_MULTIADDR_LENGTH = 512
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UNSPECIFIED = {"0.0.0.0", "::"}
_EXAMPLE = "swarm://<64 hex chars>@/ip4/192.168.1.5/tcp/4001/p2p/12D3KooW..."


@dataclass(frozen=True)
class Join:
    """A parsed join string: the swarm to join and the peers to dial first."""

    swarm_id: bytes
    peers: tuple[str, ...]

    def __str__(self) -> str:
        return format_join(self.swarm_id, self.peers)


def check_peer_multiaddr(text: str) -> str:
    """``text`` stripped, if it is a dialable multiaddr with a ``/p2p/`` peer id; else ``JoinStringError``."""
    addr = text.strip()
    if not addr:
        raise JoinStringError("empty peer address: separate several addresses with single commas, e.g. " + _EXAMPLE)
    if len(addr) > MAX_MULTIADDR_LENGTH:
        raise JoinStringError(f"peer address is {len(addr)} characters long, more than {MAX_MULTIADDR_LENGTH}")
    if not addr.startswith("/"):
        raise JoinStringError(f"peer address {addr[:80]!r} is not a multiaddr: it must start with '/', e.g. {_EXAMPLE}")
    try:
        parsed = multiaddr.Multiaddr(addr)
        names = [proto.name for proto in parsed.protocols()]
    except (MultiaddrLibError, ValueError, TypeError, KeyError) as exc:
        raise JoinStringError(f"peer address {addr[:80]!r} is not a valid multiaddr: {exc}") from exc
    if "p2p" not in names:
        raise JoinStringError(
            f"peer address {addr[:80]!r} has no /p2p/<peer id> part: append the peer id the node prints at start, "
            f"e.g. {addr}/p2p/12D3KooW..."
        )
    for name in ("ip4", "ip6"):
        if name in names and parsed.value_for_protocol(name) in _UNSPECIFIED:
            raise JoinStringError(
                f"peer address {addr[:80]!r} uses the unspecified address {parsed.value_for_protocol(name)}, which "
                "nobody can dial: use the machine's LAN or public address instead"
            )
    return addr


def _swarm_id_from_hex(text: str) -> bytes:
    if not _HEX64.fullmatch(text):
        raise JoinStringError(
            f"swarm id {text[:80]!r} must be exactly 64 hex characters (the id `swarm-node seed` prints); "
            f"a join string looks like {_EXAMPLE}"
        )
    return bytes.fromhex(text)


def parse_join(text: str) -> Join:
    """Parse a join string, or a bare 64-hex swarm id; raise ``JoinStringError`` naming the fix."""
    if not isinstance(text, str):
        raise JoinStringError(f"a join string must be text, not {type(text).__name__}")
    s = text.strip()
    if len(s) > MAX_JOIN_LENGTH:
        raise JoinStringError(f"join string is {len(s)} characters long, more than {MAX_JOIN_LENGTH}: use fewer peers")
    if not s:
        raise JoinStringError(f"empty join string: expected {_EXAMPLE} or a bare 64-hex swarm id")
    if not s.startswith(SCHEME):
        if "://" in s or "@" in s:
            raise JoinStringError(f"join string {s[:80]!r} must start with {SCHEME!r}, e.g. {_EXAMPLE}")
        return Join(_swarm_id_from_hex(s), ())
    body = s[len(SCHEME):]
    swarm_hex, sep, peer_text = body.partition("@")
    swarm_id = _swarm_id_from_hex(swarm_hex)
    if not sep:
        return Join(swarm_id, ())
    parts = peer_text.split(",")
    if len(parts) > MAX_JOIN_PEERS:
        raise JoinStringError(f"join string names {len(parts)} peers, more than {MAX_JOIN_PEERS}: keep a few")
    peers: list[str] = []
    for part in parts:
        addr = check_peer_multiaddr(part)
        if addr not in peers:
            peers.append(addr)
    return Join(swarm_id, tuple(peers))


def format_join(swarm_id: bytes, addrs: Iterable[str]) -> str:
    """The join string for ``swarm_id`` and peer multiaddrs (each with ``/p2p/``); the inverse of :func:`parse_join`."""
    if not isinstance(swarm_id, (bytes, bytearray)) or len(swarm_id) != 32:
        raise JoinStringError("a swarm id is 32 bytes (the sha256 of the signed manifest)")
    peers: list[str] = []
    for addr in addrs:
        checked = check_peer_multiaddr(addr)
        if checked not in peers:
            peers.append(checked)
    if len(peers) > MAX_JOIN_PEERS:
        raise JoinStringError(f"{len(peers)} peer addresses, more than {MAX_JOIN_PEERS}: pass a few")
    text = SCHEME + bytes(swarm_id).hex()
    if peers:
        text += "@" + ",".join(peers)
    if len(text) > MAX_JOIN_LENGTH:
        raise JoinStringError(f"join string would be {len(text)} characters, more than {MAX_JOIN_LENGTH}: pass fewer")
    return text
