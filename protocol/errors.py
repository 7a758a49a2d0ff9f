"""The errors of protocol/. Nothing else escapes :func:`protocol.decode_and_verify` or :func:`protocol.decode_request`,
whatever the input bytes.

::

    ProtocolError                 root: everything protocol/ raises on purpose
    +-- MalformedMessage          bytes that do not decode strictly: not msgpack, truncated, trailing bytes,
    |   |                         duplicate map keys, ext types, non-canonical encoding (e.g. float32, long int forms)
    |   +-- SchemaError           decodes, but not the shape of its kind: wrong arity, unknown kind, wrong type
    |       |                     (bool for int, int for float, str for bytes), wrong fixed length
    |       +-- UnexpectedKind    a well-formed message of another kind than the caller expects
    +-- UnsupportedVersion        a protocol version this code does not speak
    +-- LimitExceeded             over a size bound: whole message, one field, one list (see ``Limits``)
    +-- BadSignature              the Ed25519 signature does not verify for the author key it names
    |   +-- AuthorMismatch        signed by one key, the body claims another author (forged author)
    +-- InvalidValue              right type, impossible value: NaN/inf/-0.0, metric out of range, unknown status,
    |                             bad hash or hardware-class syntax, negative count, claim expiring before it starts
    +-- StaleMessage              created_at too far in the future for the allowed clock skew, or a claim expired
    +-- WrongSwarm                a message for another swarm than the topic/stream expects
    +-- WrongSender               the author is not the libp2p peer that delivered it directly
    +-- KeyFileError              identity key file or key bytes that cannot be used: unsafe mode, corrupt, not Ed25519

At the network edge every ``ProtocolError`` becomes a reject, logged with the peer id. A replayed (author, seq) is no
error here: the same result reaches a node through gossip and through sync, and node/ drops the copy unblamed.
"""

from __future__ import annotations

__all__ = [
    "ProtocolError",
    "MalformedMessage",
    "SchemaError",
    "UnexpectedKind",
    "UnsupportedVersion",
    "LimitExceeded",
    "BadSignature",
    "AuthorMismatch",
    "InvalidValue",
    "StaleMessage",
    "WrongSwarm",
    "WrongSender",
    "KeyFileError",
]


class ProtocolError(Exception):
    """Root of the errors raised by protocol/."""


class MalformedMessage(ProtocolError):
    """Bytes that do not decode strictly and canonically."""


class SchemaError(MalformedMessage):
    """Decodes, but is not the shape or the types of its kind."""


class UnexpectedKind(SchemaError):
    """A well-formed message of another kind than expected."""


class UnsupportedVersion(ProtocolError):
    """A protocol version this code does not speak."""


class LimitExceeded(ProtocolError):
    """A message, field or list over its size bound."""


class BadSignature(ProtocolError):
    """The signature does not verify for the key it names."""


class AuthorMismatch(BadSignature):
    """The body's author is not the key that signed it."""


class InvalidValue(ProtocolError):
    """A field of the right type with an impossible value."""


class StaleMessage(ProtocolError):
    """A timestamp outside the allowed clock skew, or an expired claim."""


class WrongSwarm(ProtocolError):
    """A message for another swarm than expected."""


class WrongSender(ProtocolError):
    """The author is not the peer that delivered the message directly."""


class KeyFileError(ProtocolError):
    """An identity key file or key bytes that cannot be used."""
