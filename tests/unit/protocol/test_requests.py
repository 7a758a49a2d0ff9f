"""Stream messages: round trips, strict kinds, bounds."""

from __future__ import annotations

import msgpack
import pytest

from protocol import (
    CommitRequest,
    CommitResponse,
    DataRequest,
    DataResponse,
    InvalidValue,
    LimitExceeded,
    Limits,
    ManifestRequest,
    ManifestResponse,
    ProtocolError,
    SchemaError,
    SyncRequest,
    SyncResponse,
    UnexpectedKind,
    UnsupportedVersion,
    decode_request,
    encode_request,
    sign_message,
)
from tests.unit.protocol.factories import ALICE, BOB, SWARM, result

ENVELOPE = sign_message(ALICE, result())
MESSAGES = [
    SyncRequest(swarm_id=SWARM, have=((ALICE.public_key, 3), (BOB.public_key, 0)), limit=512),
    SyncResponse(envelopes=(ENVELOPE, ENVELOPE), more=True),
    CommitRequest(blob="3" * 40),
    CommitResponse(blob="3" * 40, text=b"print('hi')\n", found=True),
    CommitResponse(blob="3" * 40, text=b"", found=False),
    ManifestRequest(swarm_id=SWARM),
    ManifestResponse(envelope=ENVELOPE, found=True),
    DataRequest(data_hash=SWARM, chunk=2),
    DataResponse(data_hash=SWARM, chunk=2, total_chunks=3, payload=b"\x00" * 1000, found=True),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: object) -> None:
    raw = encode_request(message)  # type: ignore[arg-type]
    assert decode_request(raw, type(message)) == message
    assert encode_request(decode_request(raw, type(message))) == raw


def test_lists_are_accepted_on_encode_and_come_back_as_tuples() -> None:
    raw = encode_request(SyncRequest(swarm_id=SWARM, have=[[ALICE.public_key, 3]], limit=1))  # type: ignore[arg-type]
    assert decode_request(raw, SyncRequest).have == ((ALICE.public_key, 3),)


def test_wrong_kind_version_and_shape() -> None:
    raw = encode_request(CommitRequest(blob="3" * 40))
    with pytest.raises(UnexpectedKind):
        decode_request(raw, ManifestRequest)
    with pytest.raises(UnsupportedVersion):
        decode_request(msgpack.packb((2, "commit_req", "3" * 40)), CommitRequest)
    with pytest.raises(SchemaError):
        decode_request(msgpack.packb((1, "commit_req")), CommitRequest)
    with pytest.raises(SchemaError):
        decode_request(msgpack.packb((1, "data_req", SWARM, True)), DataRequest)
    with pytest.raises(SchemaError):
        decode_request(raw, dict)  # type: ignore[arg-type]


def test_bounds() -> None:
    with pytest.raises(LimitExceeded):
        encode_request(DataResponse(SWARM, 0, 1, b"x" * (Limits().data_chunk + 1), True))
    with pytest.raises(LimitExceeded):
        decode_request(b"\x00" * (Limits().max_request + 1), SyncRequest)
    with pytest.raises(LimitExceeded):
        encode_request(SyncResponse(envelopes=(b"x" * (Limits().max_envelope + 1),), more=False))
    with pytest.raises(InvalidValue):
        encode_request(CommitResponse(blob="3" * 40, text=b"x", found=False))
    with pytest.raises(InvalidValue):
        decode_request(msgpack.packb((1, "manifest_resp", b"x", False)), ManifestResponse)
    with pytest.raises(InvalidValue):
        encode_request(SyncRequest(swarm_id=SWARM, have=((ALICE.public_key, -1),), limit=1))


def test_garbage_only_raises_protocol_errors() -> None:
    for raw in (b"", b"\xff" * 10, msgpack.packb({"a": 1}), msgpack.packb([1, 2, [3]]), msgpack.packb((1, 7))):
        with pytest.raises(ProtocolError):
            decode_request(raw, SyncResponse)
