"""protocol: the wire layer of swarm-node (identity, signed messages, canonical encoding, strict validation).

Pure Python, no I/O beyond the identity key file, no imports from the rest of the project (nor from libp2p).

Files:

- ``errors.py``     the error tree (root ``ProtocolError``), drawn in its docstring.
- ``limits.py``     ``Limits`` (every size/range/skew bound, overridable), ``PROTOCOL_VERSION``.
- ``canonical.py``  canonical msgpack: ``pack`` and the strict ``unpack`` (no trailing bytes, no duplicate keys,
                    no ext types, no NaN/inf/-0.0, canonical form only).
- ``fields.py``     field specs and ``Schema``: a dataclass as a fixed-order msgpack array, with strict types.
- ``messages.py``   the signed messages ``Manifest``, ``Result``, ``Claim`` and ``BudgetRule``; ``one_line``.
- ``bounds.py``     semantic bounds: intrinsic (metric range, status, claim length) and receiver-side (skew, swarm).
- ``identity.py``   ``Identity`` (Ed25519 key file, signing, peer id), ``peer_id_from_public_key``.
- ``small_order.py`` refuses small-order ("anyone can sign") Ed25519 keys, which OpenSSL alone would accept.
- ``hashing.py``    ``git_blob_hash``, ``message_id_of``, ``swarm_id_of``.
- ``envelope.py``   ``sign_message`` (``seal``: signed, as a ``Verified``), ``decode_and_verify`` (the one
                    validation pipeline), ``Verified``.
- ``requests.py``   unsigned stream messages (sync, commit, manifest, data), ``encode_request``/``decode_request``.

Typical use::

    me = Identity.load_or_create(home / "identity.key")
    raw = sign_message(me, Result(swarm_id=sid, author=me.public_key, seq=7, ...))
    v = decode_and_verify(raw, expected_swarm=sid)   # -> Verified, or a ProtocolError subclass
"""

from __future__ import annotations

from protocol.envelope import DOMAIN_TAG, Verified, decode_and_verify, seal, sign_message
from protocol.errors import (
    AuthorMismatch,
    BadSignature,
    InvalidValue,
    KeyFileError,
    LimitExceeded,
    MalformedMessage,
    ProtocolError,
    SchemaError,
    StaleMessage,
    UnexpectedKind,
    UnsupportedVersion,
    WrongSender,
    WrongSwarm,
)
from protocol.hashing import git_blob_hash, message_id_of, swarm_id_of
from protocol.identity import Identity, peer_id_from_public_key
from protocol.limits import DEFAULT_LIMITS, PROTOCOL_VERSION, SIGNED_VERSION, Limits
from protocol.messages import (ACTIONS, CLOCKS, STATUSES, TASK_KINDS, BudgetRule, Claim, Manifest, Message, Result,
                               legacy_action, one_line, task_kind)
from protocol.requests import (
    CommitRequest,
    CommitResponse,
    DataRequest,
    DataResponse,
    ManifestRequest,
    ManifestResponse,
    Request,
    SyncRequest,
    SyncResponse,
    decode_request,
    encode_request,
)

__all__ = [
    "Identity", "peer_id_from_public_key", "git_blob_hash", "message_id_of", "swarm_id_of",
    "Manifest", "Result", "Claim", "BudgetRule", "Message", "STATUSES", "ACTIONS", "CLOCKS", "legacy_action", "one_line",
    "TASK_KINDS", "task_kind",
    "SyncRequest", "SyncResponse", "CommitRequest", "CommitResponse",
    "ManifestRequest", "ManifestResponse", "DataRequest", "DataResponse", "Request",
    "sign_message", "seal", "decode_and_verify", "Verified", "DOMAIN_TAG",
    "encode_request", "decode_request", "Limits", "DEFAULT_LIMITS", "PROTOCOL_VERSION", "SIGNED_VERSION",
    "ProtocolError", "MalformedMessage", "SchemaError", "UnexpectedKind", "UnsupportedVersion", "LimitExceeded",
    "BadSignature", "AuthorMismatch", "InvalidValue", "StaleMessage", "WrongSwarm", "WrongSender",
    "KeyFileError",
]
