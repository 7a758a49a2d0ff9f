"""Errors of the network layer; they hang under the node's error root.

    NodeError                     (node.errors: the root of the node package)
    └── NetworkError              (node.errors: the libp2p side)
        ├── StreamFailed          a request over a stream could not complete (dial, reset, early EOF)
        │   └── StreamTimeout     the peer did not answer within the deadline
        ├── FrameTooLarge         a frame announced more bytes than the bound allows
        └── PeerError             (node.errors: one peer misbehaved)
            └── BadPayload        a peer's answer failed decoding or its hash check

Nothing here crosses into py-libp2p: stream handlers and validators turn these into rejects.
"""

from __future__ import annotations

from node.errors import NetworkError, PeerError

__all__ = ["StreamFailed", "StreamTimeout", "FrameTooLarge", "BadPayload"]


class StreamFailed(NetworkError):
    """A request over a stream could not complete."""


class StreamTimeout(StreamFailed):
    """The peer did not answer within the deadline."""


class FrameTooLarge(NetworkError):
    """A frame announced more bytes than the bound allows."""


class BadPayload(PeerError):
    """A peer's answer failed decoding or its hash check."""
