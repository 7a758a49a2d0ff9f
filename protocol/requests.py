"""Unsigned request/response messages of the streams (the connection is already authenticated by Noise).

Wire form: the canonical msgpack array ``[version, kind, *fields]``, at most ``Limits.max_request`` bytes.

=====================  ==========================  ===========================================================
stream                 request                     response
=====================  ==========================  ===========================================================
/swarm-node/sync/1     SyncRequest                 SyncResponse (raw envelopes; each is verified on its own)
/swarm-node/commit/1   CommitRequest               CommitResponse (asker checks git_blob_hash(text) == blob)
/swarm-node/manifest/1 ManifestRequest             ManifestResponse (asker checks swarm_id_of(envelope))
/swarm-node/data/1     DataRequest                 DataResponse (asker checks the sha256 of the whole file)
=====================  ==========================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, Union

from protocol.canonical import pack, unpack
from protocol.errors import (
    InvalidValue,
    LimitExceeded,
    MalformedMessage,
    SchemaError,
    UnexpectedKind,
    UnsupportedVersion,
)
from protocol.fields import Blob, Bool, Hex, Int, PairOf, Schema, SeqOf
from protocol.limits import DEFAULT_LIMITS, STREAM_VERSION, Limits

__all__ = [
    "SyncRequest",
    "SyncResponse",
    "CommitRequest",
    "CommitResponse",
    "ManifestRequest",
    "ManifestResponse",
    "DataRequest",
    "DataResponse",
    "Request",
    "encode_request",
    "decode_request",
]


@dataclass(frozen=True)
class SyncRequest:
    """"Give me the results of ``swarm_id`` above these seqs": per author the highest contiguous seq the asker holds."""

    swarm_id: bytes
    have: tuple[tuple[bytes, int], ...]
    limit: int  # how many envelopes at most in the answer


@dataclass(frozen=True)
class SyncResponse:
    envelopes: tuple[bytes, ...]  # raw signed envelopes, ordered (author, seq)
    more: bool  # the server holds more above the asker's vector


@dataclass(frozen=True)
class CommitRequest:
    blob: str  # git blob hash of a train.py


@dataclass(frozen=True)
class CommitResponse:
    blob: str
    text: bytes  # b"" when not found
    found: bool


@dataclass(frozen=True)
class ManifestRequest:
    swarm_id: bytes


@dataclass(frozen=True)
class ManifestResponse:
    envelope: bytes  # the signed manifest envelope, b"" when not found
    found: bool


@dataclass(frozen=True)
class DataRequest:
    data_hash: bytes  # sha256 of the whole corpus file
    chunk: int  # 0-based chunk index (chunks of Limits.data_chunk bytes)


@dataclass(frozen=True)
class DataResponse:
    data_hash: bytes
    chunk: int
    total_chunks: int
    payload: bytes  # b"" when not found
    found: bool


Request = Union[
    SyncRequest, SyncResponse, CommitRequest, CommitResponse,
    ManifestRequest, ManifestResponse, DataRequest, DataResponse,
]
R = TypeVar("R")

_ID = Blob(sizes=(32,))
_SCHEMAS: dict[str, Schema[Any]] = {
    "sync_req": Schema(
        SyncRequest,
        {"swarm_id": _ID, "have": SeqOf(PairOf(_ID, Int()), "max_sync_have"), "limit": Int(lo=1, hi=10**9)},
    ),
    "sync_resp": Schema(
        SyncResponse, {"envelopes": SeqOf(Blob(limit="max_envelope"), "max_sync_limit"), "more": Bool()}
    ),
    "commit_req": Schema(CommitRequest, {"blob": Hex()}),
    "commit_resp": Schema(CommitResponse, {"blob": Hex(), "text": Blob(limit="max_commit_text"), "found": Bool()}),
    "manifest_req": Schema(ManifestRequest, {"swarm_id": _ID}),
    "manifest_resp": Schema(ManifestResponse, {"envelope": Blob(limit="max_manifest_envelope"), "found": Bool()}),
    "data_req": Schema(DataRequest, {"data_hash": _ID, "chunk": Int()}),
    "data_resp": Schema(
        DataResponse,
        {"data_hash": _ID, "chunk": Int(), "total_chunks": Int(), "payload": Blob(limit="data_chunk"), "found": Bool()},
    ),
}
_KIND_OF: dict[type, str] = {schema.cls: kind for kind, schema in _SCHEMAS.items()}


def _check(message: Any) -> None:
    """Cross-field bounds: nothing is carried when nothing was found."""
    if isinstance(message, (CommitResponse, DataResponse)) and not message.found:
        if (message.text if isinstance(message, CommitResponse) else message.payload) != b"":
            raise InvalidValue(f"a {type(message).__name__} that was not found carries no bytes")
    if isinstance(message, ManifestResponse) and not message.found and message.envelope != b"":
        raise InvalidValue("a ManifestResponse that was not found carries no envelope")


def encode_request(msg: Request, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The canonical bytes of a stream message; raises ``ProtocolError`` for one its receiver would refuse."""
    kind = _KIND_OF.get(type(msg))
    if kind is None:
        raise SchemaError(f"not a stream message type: {type(msg).__name__}")
    fields = _SCHEMAS[kind].to_wire(msg, limits)
    _check(msg)
    raw = pack((STREAM_VERSION, kind, *fields))
    if len(raw) > limits.max_request:
        raise LimitExceeded(f"{kind} is {len(raw)} bytes > {limits.max_request}")
    return raw


def decode_request(raw: bytes, expected: type[R], *, limits: Limits = DEFAULT_LIMITS) -> R:
    """Decode a stream message of type ``expected`` strictly; raise only ``ProtocolError`` subclasses."""
    if type(raw) is not bytes:
        if not isinstance(raw, (bytearray, memoryview)):
            raise MalformedMessage(f"a message is bytes, not {type(raw).__name__}")
        raw = bytes(raw)
    want = _KIND_OF.get(expected)
    if want is None:
        raise SchemaError(f"not a stream message type: {getattr(expected, '__name__', expected)!r}")
    value = unpack(raw, max_len=limits.max_request, check_floats=False)
    if type(value) is not tuple or len(value) < 2:
        raise SchemaError("a stream message is an array [version, kind, *fields]")
    version, kind = value[0], value[1]
    if type(version) is not int:
        raise SchemaError("version must be an int")
    if version != STREAM_VERSION:
        raise UnsupportedVersion(f"protocol version {version} (this node speaks {STREAM_VERSION})")
    if type(kind) is not str or kind not in _SCHEMAS:
        raise SchemaError(f"unknown stream message kind {kind!r:.40}")
    if kind != want:
        raise UnexpectedKind(f"a {kind} where a {want} was expected")
    message: R = _SCHEMAS[kind].from_wire(value[2:], limits)
    _check(message)
    return message
