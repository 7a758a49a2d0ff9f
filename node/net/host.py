"""Build the py-libp2p host of a node: its Ed25519 key, TCP + Noise + Mplex, one connection per peer.

Why these choices (measured on py-libp2p 0.8.1): Yamux costs about twice the CPU of Mplex under load,
and ``connect()`` waits ~250 ms by a bug unless ``max_connections_per_peer=1``.
"""

from __future__ import annotations

import logging
from typing import Sequence

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair
from libp2p.network.config import ConnectionConfig
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex

from node.errors import NetworkError
from node.net.duplex import make_mplex_full_duplex

__all__ = ["build_host", "key_pair_from_seed", "peer_addrs", "parse_peer_addr", "to_multiaddrs"]

log = logging.getLogger(__name__)

DIAL_TIMEOUT = 5.0


def key_pair_from_seed(seed: bytes) -> KeyPair:
    """The libp2p key pair for a 32-byte Ed25519 seed (``protocol.Identity.private_bytes``)."""
    if len(seed) != 32:
        raise NetworkError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
    private = Ed25519PrivateKey.from_bytes(seed)
    return KeyPair(private, private.get_public_key())


def to_multiaddrs(addrs: Sequence[str]) -> list[multiaddr.Multiaddr]:
    """Parse multiaddr strings, raising :class:`NetworkError` with the bad one named."""
    out: list[multiaddr.Multiaddr] = []
    for addr in addrs:
        try:
            out.append(multiaddr.Multiaddr(addr))
        except Exception as exc:  # multiaddr raises several unrelated types
            raise NetworkError(f"not a multiaddr: {addr!r} ({exc})") from exc
    return out


def harden_noise() -> None:
    """Two fixes to py-libp2p 0.8.1's Noise transport, applied once per process (idempotent).

    - A message that fails to decrypt (a peer killed mid-frame, a garbled or hostile frame) raised noise's own
      ``NoiseInvalidMessage``, which Mplex does not expect: it escaped the connection's tasks and tore down the whole
      host. It now raises ``ConnectionClosedError``, which Mplex handles by closing that one connection.
    - ``write_msg`` encrypts (taking the next nonce) and then awaits the send: two writers on one connection (Mplex
      streams share it) could send out of nonce order. Encrypt and send now happen under one lock per connection.
    """
    from libp2p.io.exceptions import ConnectionClosedError
    from libp2p.security.noise.io import BaseNoiseMsgReadWriter, NoiseTransportReadWriter
    from noise.exceptions import NoiseInvalidMessage, NoiseMaxNonceError, NoiseValueError

    if getattr(BaseNoiseMsgReadWriter, "_swarm_node_hardened", False):
        return
    unlocked_write = BaseNoiseMsgReadWriter.write_msg
    raw_decrypt = NoiseTransportReadWriter.decrypt

    async def write_msg(self: BaseNoiseMsgReadWriter, msg: bytes, prefix_encoded: bool = False) -> None:
        lock = self.__dict__.get("_swarm_node_write_lock")
        if lock is None:
            lock = self.__dict__["_swarm_node_write_lock"] = trio.Lock()
        async with lock:
            await unlocked_write(self, msg, prefix_encoded)

    def decrypt(self: NoiseTransportReadWriter, data: bytes) -> bytes:
        try:
            return raw_decrypt(self, data)
        except (NoiseInvalidMessage, NoiseMaxNonceError, NoiseValueError) as exc:
            raise ConnectionClosedError(f"noise: a message failed to decrypt ({exc}); closing the connection") from exc

    BaseNoiseMsgReadWriter.write_msg = write_msg  # type: ignore[method-assign]
    NoiseTransportReadWriter.decrypt = decrypt  # type: ignore[method-assign]
    BaseNoiseMsgReadWriter._swarm_node_hardened = True  # type: ignore[attr-defined]


def build_host(seed: bytes, listen: Sequence[str]) -> tuple[IHost, list[multiaddr.Multiaddr]]:
    """A host for this identity plus the listen addresses to pass to ``host.run(listen_addrs=...)``.

    Port 0 in a listen address picks a free port; read the real one back with :func:`peer_addrs`.
    """
    harden_noise()
    make_mplex_full_duplex()  # relayed connections stall without it (node/net/duplex.py)
    listen_addrs = to_multiaddrs(listen)
    host = new_host(
        key_pair=key_pair_from_seed(seed),
        muxer_opt={MPLEX_PROTOCOL_ID: Mplex},
        connection_config=ConnectionConfig(max_connections_per_peer=1, dial_timeout=DIAL_TIMEOUT),
        listen_addrs=listen_addrs,
    )
    return host, listen_addrs


def peer_addrs(host: IHost) -> list[str]:
    """The host's listen addresses as dialable strings ending in ``/p2p/<peer id>``."""
    me = host.get_id().to_base58()
    out: list[str] = []
    for addr in host.get_addrs():
        text = str(addr)
        out.append(text if "/p2p/" in text else f"{text}/p2p/{me}")
    return out


def parse_peer_addr(addr: str) -> PeerInfo:
    """``/ip4/.../tcp/.../p2p/<id>`` -> PeerInfo, or :class:`NetworkError` if it names no peer."""
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(addr))
    except Exception as exc:
        raise NetworkError(f"not a peer address (needs /p2p/<peer id>): {addr!r} ({exc})") from exc
