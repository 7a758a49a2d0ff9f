"""Signed envelopes: ``sign_message`` and the one validation pipeline, ``decode_and_verify``.

Wire form (canonical msgpack, see ``protocol.canonical``)::

    envelope = [version: int, kind: str, author: bin(32), body: bin, signature: bin(64)]
    body     = [version: int, kind: str, *fields in dataclass order]
    signature = Ed25519(author, DOMAIN_TAG + version as 2 bytes big-endian + body)

Versions: each kind is signed at ``SIGNED_VERSION[kind]`` (manifests 3, results 2, claims 1), except that a manifest
is signed at the lowest version that holds its fields: without rungs at 2, and an lm swarm without rungs at 1, so
its bytes and swarm id stay; every version from 1 to ``PROTOCOL_VERSION`` decodes, an older result or manifest
through ``LEGACY_SCHEMAS`` (its newer fields filled in: a version-1 manifest is an lm swarm, and before version 3 a
manifest has no rungs).

The signature covers the exact body bytes as received; nothing is re-encoded before verifying. The envelope repeats
version and kind so that the version and the per-kind size bound are checked before any signature work; both must
equal the body's own. ``message_id`` = sha256(envelope bytes); for a manifest that is also the ``swarm_id``.

Pipeline order (each step raises its own ``ProtocolError``): size limit -> envelope decode (version, kind, size of
that kind, expected kind) -> sender (a cheap compare, before the costly signature) -> signature -> strict body decode
-> schema -> author matches signer -> intrinsic bounds -> receiver bounds (skew, expiry, swarm). A replayed
(author, seq) is the receiver's to drop: node/ keeps per-author seq heads (gossip gate) and the ledger dedupes.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from protocol.bounds import check_context, check_intrinsic
from protocol.canonical import pack, unpack
from protocol.errors import (
    AuthorMismatch,
    LimitExceeded,
    MalformedMessage,
    SchemaError,
    UnexpectedKind,
    UnsupportedVersion,
    WrongSender,
    WrongSwarm,
)
from protocol.identity import Identity, peer_id_from_public_key, verify_signature
from protocol.limits import DEFAULT_LIMITS, PROTOCOL_VERSION, SIGNED_VERSION, Limits
from protocol.messages import (KIND_OF, LEGACY_SCHEMAS, MANIFEST_V2_DEFAULTS, MANIFEST_V3_DEFAULTS, SCHEMAS, Message,
                               Result)

__all__ = ["DOMAIN_TAG", "Verified", "sign_message", "signed_version", "seal", "decode_and_verify", "signed_bytes"]

DOMAIN_TAG = b"swarm-node/signed-message\x00"


def signed_bytes(version: int, body: bytes) -> bytes:
    """What the Ed25519 signature covers: the domain tag, the protocol version, the exact body bytes."""
    return DOMAIN_TAG + version.to_bytes(2, "big") + body


@dataclass(frozen=True)
class Verified:
    """A message that passed the whole pipeline, with the exact bytes it came in."""

    message: Message
    author: bytes  # the 32-byte public key that signed it (== message.author)
    body: bytes  # the signed body bytes
    raw: bytes  # the whole envelope, as received: what the ledger stores and what sync serves
    message_id: bytes  # sha256(raw); the result id, or the swarm id of a manifest

    @property
    def kind(self) -> str:
        return KIND_OF[type(self.message)]

    @property
    def peer_id(self) -> str:
        """The libp2p peer id of the author."""
        return peer_id_from_public_key(self.author)


def signed_version(message: Message) -> int:
    """The version ``message`` is signed at: its kind's, or for a manifest the lowest that holds its fields (1 when its
    version-2 and -3 fields are defaults, 2 when only its version-3 fields are)."""
    kind = KIND_OF[type(message)]
    if kind == "manifest" and all(getattr(message, n) == v for n, v in MANIFEST_V3_DEFAULTS.items()):
        return 1 if all(getattr(message, n) == v for n, v in MANIFEST_V2_DEFAULTS.items()) else 2
    return SIGNED_VERSION[kind]


def sign_message(identity: Identity, message: Message, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The raw envelope of ``message`` signed by ``identity``. The message must pass the checks its receivers apply
    (schema and intrinsic bounds; not the clock), and ``message.author`` must be ``identity.public_key``."""
    return _sign(identity, message, limits)[1]


def _sign(identity: Identity, message: Message, limits: Limits) -> tuple[bytes, bytes]:
    """(signed body, raw envelope) of ``message``; see :func:`sign_message`."""
    kind = KIND_OF.get(type(message))
    if kind is None:
        raise SchemaError(f"not a signed message type: {type(message).__name__}")
    if message.author != identity.public_key:
        raise AuthorMismatch("message.author is not the signing identity's public key")
    check_intrinsic(message, limits)
    version = signed_version(message)
    fields = LEGACY_SCHEMAS.get((version, kind), SCHEMAS[kind]).to_wire(message, limits)
    body = pack((version, kind, *fields))
    signature = identity.sign(signed_bytes(version, body))
    raw = pack((version, kind, identity.public_key, body, signature))
    bound = limits.max_manifest_envelope if kind == "manifest" else limits.max_envelope
    if len(raw) > bound:
        raise LimitExceeded(f"signed {kind} is {len(raw)} bytes > {bound}")
    return body, raw


def seal(identity: Identity, message: Message, *, limits: Limits = DEFAULT_LIMITS) -> Verified:
    """``message`` signed by ``identity``, as the :class:`Verified` its receivers will hold (the same raw bytes and
    message id), without decoding the signature back: the signer checked the schema and bounds on the way in."""
    body, raw = _sign(identity, message, limits)
    return Verified(message=message, author=identity.public_key, body=body, raw=raw,
                    message_id=hashlib.sha256(raw).digest())


def decode_and_verify(
    raw: bytes,
    *,
    expected_swarm: bytes | None = None,
    sender: str | None = None,
    now: float | None = None,
    expect: type | tuple[type, ...] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Verified:
    """Validate a signed envelope end to end and return it typed; raise only ``ProtocolError`` subclasses.

    ``expected_swarm``: the swarm of the topic or stream (for a manifest: its expected id). ``sender``: the libp2p
    peer id that delivered it directly when the author must be that peer (claims); ``None`` for relayed gossip and
    sync. ``now``: the receiver's clock (default ``time.time()``).
    ``expect``: the message type(s) acceptable here (e.g. ``Result`` on a results topic)."""
    if type(raw) is not bytes:
        if not isinstance(raw, (bytearray, memoryview)):
            raise MalformedMessage(f"a message is bytes, not {type(raw).__name__}")
        raw = bytes(raw)
    if len(raw) > limits.max_signed():
        raise LimitExceeded(f"message is {len(raw)} bytes > {limits.max_signed()}")
    envelope = unpack(raw, max_len=limits.max_signed(), check_floats=False)
    if type(envelope) is not tuple or not envelope:
        raise SchemaError("an envelope is a non-empty array")
    version = envelope[0]
    if type(version) is not int:
        raise SchemaError("envelope version must be an int")
    if not 1 <= version <= PROTOCOL_VERSION:
        raise UnsupportedVersion(f"protocol version {version} (this node speaks 1..{PROTOCOL_VERSION})")
    if len(envelope) != 5:
        raise SchemaError(f"an envelope has 5 fields, not {len(envelope)}")
    _, kind, author, body, signature = envelope
    if type(kind) is not str or kind not in SCHEMAS:
        raise SchemaError(f"unknown message kind {kind!r:.40}")
    if type(author) is not bytes or len(author) != 32:
        raise SchemaError("envelope author must be 32 bytes")
    if type(body) is not bytes or type(signature) is not bytes or len(signature) != 64:
        raise SchemaError("envelope body must be bytes and signature 64 bytes")
    schema = LEGACY_SCHEMAS.get((version, kind), SCHEMAS[kind])
    if kind != "manifest" and len(raw) > limits.max_envelope:
        raise LimitExceeded(f"{kind} is {len(raw)} bytes > {limits.max_envelope}")
    if expect is not None:
        wanted = expect if isinstance(expect, tuple) else (expect,)
        if schema.cls not in wanted:
            raise UnexpectedKind(f"a {kind} where {'/'.join(t.__name__ for t in wanted)} was expected")
    if sender is not None and peer_id_from_public_key(author) != sender:
        raise WrongSender(f"{kind} authored by {peer_id_from_public_key(author)} but delivered by {sender}")

    verify_signature(author, signature, signed_bytes(version, body))

    fields = unpack(body, max_len=len(body), check_floats=False)
    if type(fields) is not tuple or len(fields) < 2:
        raise SchemaError("a body is an array [version, kind, *fields]")
    if fields[0] != version or type(fields[0]) is not int or fields[1] != kind:
        raise SchemaError("body version/kind differ from the envelope's")
    message = schema.from_wire(fields[2:], limits)
    if message.author != author:
        raise AuthorMismatch("body names another author than the key that signed it")
    check_intrinsic(message, limits)
    check_context(message, limits, now=time.time() if now is None else now, expected_swarm=expected_swarm)
    message_id = hashlib.sha256(raw).digest()
    if kind == "manifest" and expected_swarm is not None and message_id != expected_swarm:
        raise WrongSwarm(f"manifest {message_id.hex()[:16]} is not swarm {expected_swarm.hex()[:16]}")
    return Verified(message=message, author=author, body=body, raw=raw, message_id=message_id)
