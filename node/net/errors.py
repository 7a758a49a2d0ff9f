"""Errors of the network layer; they hang under the node's error root.

    NodeError                     (node.errors: the root of the node package)
    └── NetworkError              (node.errors: the libp2p side)
        ├── StreamFailed          a request over a stream could not complete (dial, reset, early EOF)
        │   └── StreamTimeout     the peer did not answer within the deadline
        ├── FrameTooLarge         a frame announced more bytes than the bound allows
        └── PeerError             (node.errors: one peer misbehaved)
            └── BadPayload        a peer's answer failed decoding or its hash check

Nothing here crosses into py-libp2p: stream handlers and validators turn these into rejects.
:func:`is_shutdown_race` recognises py-libp2p's race at close (see there).
"""

from __future__ import annotations

from node.errors import NetworkError, PeerError

__all__ = ["StreamFailed", "StreamTimeout", "FrameTooLarge", "BadPayload", "is_shutdown_race"]


class StreamFailed(NetworkError):
    """A request over a stream could not complete."""


class StreamTimeout(StreamFailed):
    """The peer did not answer within the deadline."""


class FrameTooLarge(NetworkError):
    """A frame announced more bytes than the bound allows."""


class BadPayload(PeerError):
    """A peer's answer failed decoding or its hash check."""


def is_shutdown_race(exc: BaseException) -> bool:
    """py-libp2p 0.8.1's shutdown race: a pubsub message that arrives while its task nursery closes raises
    "Nursery is closed to new arrivals" out of the host. It concerns one message of one connection, never our
    ledger, so it must not turn a clean stop into a crash. (Noise decryption failures are handled at their source:
    ``node.net.host.harden_noise``.)"""
    return isinstance(exc, RuntimeError) and "Nursery is closed to new arrivals" in str(exc)
