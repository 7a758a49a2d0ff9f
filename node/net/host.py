"""Build the py-libp2p host of a node: its Ed25519 key, TCP + Noise + Yamux/Mplex, one connection per peer.

Why these choices (py-libp2p 0.8.1):

- Security is Noise and nothing else, both ways. py-libp2p's defaults (no ``sec_opt``) also offer TLS, secio
  and ``/plaintext/2.0.0``; plaintext lets a dialer claim any peer id without holding its key, so penalties and
  bans could be charged to an honest id. TLS is not offered: py-libp2p's own comment says Python's ``ssl`` cannot do
  libp2p's mutual TLS, and Noise is what every stock libp2p (go, rust, js) speaks.
- Muxers: see :data:`MUXERS` (order measured by ``bench/propagation.py --muxer``). Yamux is what go-libp2p,
  rust-libp2p and js-libp2p offer by default (they dropped Mplex); Mplex is cheaper between py-libp2p nodes.
- ``connect()`` waits ~250 ms by a bug unless ``max_connections_per_peer=1``.
- Every inbound stream handler runs inside :func:`harden_stream_handlers`' guard: an exception from any protocol
  (ours, identify, ping, kad, pubsub) resets that stream and is charged to its peer, never to the host; the same for
  Mplex's frame loop (:func:`harden_mplex`: it closes that connection).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import Ed25519PrivateKey
from libp2p.crypto.keys import KeyPair
from libp2p.network.config import ConnectionConfig
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from node.errors import NetworkError
from node.net.duplex import make_mplex_full_duplex

__all__ = [
    "build_host", "key_pair_from_seed", "peer_addrs", "parse_peer_addr", "to_multiaddrs", "MUXERS", "SECURITY",
    "harden_stream_handlers", "harden_mplex",
]

log = logging.getLogger(__name__)

DIAL_TIMEOUT = 5.0
SECURITY = (NOISE_PROTOCOL_ID,)
"""The only security protocol offered or accepted."""
MUXERS: dict[TProtocol, type] = {MPLEX_PROTOCOL_ID: Mplex, TProtocol(YAMUX_PROTOCOL_ID): Yamux}
"""Offered in this order when dialling. ``bench/propagation.py --muxer`` measured py-libp2p's Yamux at 1.3-1.5x the
CPU per result of its Mplex (10 and 20 nodes, one run, a loaded machine), so two py-libp2p nodes use Mplex; a stock
go/rust/js node refuses Mplex and gets Yamux, dialling or dialled."""

Blame = Callable[[str, str], None]


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


def harden_stream_handlers() -> None:
    """Guard py-libp2p 0.8.1's inbound stream dispatch (``BasicHost._swarm_stream_handler``), once per process.

    An exception out of a protocol handler (py-libp2p's or ours) used to travel up the connection's task group and
    could end the host. Now it is logged, the stream is reset, and the peer is charged through the host's
    ``blame`` (set by :func:`build_host`). ``trio.Cancelled`` still passes: it is how the host stops.
    """
    from libp2p.host.basic_host import BasicHost

    if getattr(BasicHost, "_swarm_node_hardened", False):
        return
    raw_handler = BasicHost._swarm_stream_handler

    async def guarded(self: BasicHost, net_stream: Any) -> None:
        try:
            await raw_handler(self, net_stream)
        except Exception as exc:
            try:
                peer = net_stream.muxed_conn.peer_id.to_base58()
            except Exception:
                peer = "?"
            protocol = getattr(net_stream, "protocol_id", None) or "?"
            log.warning("stream %s from %s raised %r; stream reset", protocol, peer, exc, exc_info=True)
            blame = getattr(self, "_swarm_node_blame", None)
            if blame is not None and peer != "?":
                try:
                    blame(peer, f"stream {protocol} raised {type(exc).__name__}: {str(exc)[:100]}")
                except Exception:
                    log.exception("blaming %s failed", peer)
            with trio.move_on_after(1.0):
                try:
                    await net_stream.reset()
                except Exception:
                    pass

    BasicHost._swarm_stream_handler = guarded  # type: ignore[method-assign]
    BasicHost._swarm_node_hardened = True  # type: ignore[attr-defined]


_MUXER_BLAME: dict[str, Blame] = {}
"""This process's hosts' ``blame``, by local peer id: a muxer knows its connection's ids, not its host."""


def harden_mplex() -> None:
    """Guard py-libp2p 0.8.1's Mplex read loop, once per process.

    A frame it cannot handle (a new-stream frame whose name is not UTF-8 raised ``UnicodeDecodeError``) escaped
    ``Mplex.handle_incoming`` and ended the whole host. Any such error now closes that one connection, is logged and
    is charged to its (Noise-authenticated) peer.
    """
    from libp2p.stream_muxer.mplex.exceptions import MplexUnavailable

    if getattr(Mplex, "_swarm_node_hardened", False):
        return
    raw_handle = Mplex._handle_incoming_message

    async def guarded(self: Mplex) -> None:
        try:
            await raw_handle(self)
        except MplexUnavailable:
            raise
        except Exception as exc:
            peer = self.peer_id.to_base58()
            log.warning("mplex: a frame from %s raised %r; closing that connection", peer, exc)
            try:
                blame = _MUXER_BLAME.get(self.secured_conn.get_local_peer().to_base58())
                if blame is not None:
                    blame(peer, f"mplex frame raised {type(exc).__name__}")
            except Exception:
                log.exception("blaming %s failed", peer)
            raise MplexUnavailable(f"a bad frame from {peer}: {exc!r}") from exc

    Mplex._handle_incoming_message = guarded  # type: ignore[method-assign]
    Mplex._swarm_node_hardened = True  # type: ignore[attr-defined]


def build_host(
    seed: bytes, listen: Sequence[str], *, blame: Blame | None = None
) -> tuple[IHost, list[multiaddr.Multiaddr]]:
    """A host for this identity plus the listen addresses to pass to ``host.run(listen_addrs=...)``.

    Noise only (:data:`SECURITY`), :data:`MUXERS` in order. ``blame(peer id, reason)`` is told of every stream
    handler that raised. Port 0 in a listen address picks a free port; read the real one back with
    :func:`peer_addrs`.
    """
    harden_noise()
    harden_stream_handlers()
    harden_mplex()
    make_mplex_full_duplex()  # relayed connections stall without it (node/net/duplex.py)
    listen_addrs = to_multiaddrs(listen)
    key_pair = key_pair_from_seed(seed)
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_opt=dict(MUXERS),
        connection_config=ConnectionConfig(max_connections_per_peer=1, dial_timeout=DIAL_TIMEOUT),
        listen_addrs=listen_addrs,
    )
    host._swarm_node_blame = blame  # type: ignore[attr-defined]
    if blame is not None:
        _MUXER_BLAME[host.get_id().to_base58()] = blame
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
