"""Errors of the network layer; they hang under the node's error root.

    NodeError                     (node.errors: the root of the node package)
    └── NetworkError              (node.errors: the libp2p side)
        ├── StreamFailed          a request over a stream could not complete (dial, reset, early EOF)
        │   └── StreamTimeout     the peer did not answer within the deadline
        ├── FrameTooLarge         a frame announced more bytes than the bound allows
        └── PeerError             (node.errors: one peer misbehaved)
            └── BadPayload        a peer's answer failed decoding or its hash check

Nothing here crosses into py-libp2p: stream handlers and validators turn these into rejects.
:func:`is_connection_noise` tells py-libp2p's own per-connection errors apart when they surface at shutdown.
"""

from __future__ import annotations

from node.errors import NetworkError, PeerError

__all__ = ["StreamFailed", "StreamTimeout", "FrameTooLarge", "BadPayload", "is_connection_noise"]


class StreamFailed(NetworkError):
    """A request over a stream could not complete."""


class StreamTimeout(StreamFailed):
    """The peer did not answer within the deadline."""


class FrameTooLarge(NetworkError):
    """A frame announced more bytes than the bound allows."""


class BadPayload(PeerError):
    """A peer's answer failed decoding or its hash check."""


def is_connection_noise(exc: BaseException) -> bool:
    """Errors py-libp2p 0.8.1 lets escape from one peer's connection tasks, surfacing when the host closes.

    A pubsub message arriving while its task nursery closes ("Nursery is closed to new arrivals"), and a
    connection that broke (a peer killed mid-frame: noise's "Failed authentication of message", mplex/yamux
    errors). They concern one connection, never our ledger, so they must not turn a clean stop into a crash.
    """
    if isinstance(exc, RuntimeError) and "Nursery is closed to new arrivals" in str(exc):
        return True
    module = type(exc).__module__
    return isinstance(exc, Exception) and (module.startswith("noise.") or module.startswith("libp2p."))
