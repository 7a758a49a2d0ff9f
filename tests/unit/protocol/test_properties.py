"""Property tests: tampering is always caught, garbage only ever raises ProtocolError, valid messages always pass."""

from __future__ import annotations

import dataclasses
import string

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (
    BudgetRule,
    CommitResponse,
    DataRequest,
    ProtocolError,
    Result,
    SyncRequest,
    SyncResponse,
    decode_and_verify,
    decode_request,
    sign_message,
)
from tests.unit.protocol.factories import ALICE, NOW, SWARM, claim, manifest, result, sign_body

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RAW_RESULT = sign_message(ALICE, result())
RAW_CLAIM = sign_message(ALICE, claim())
RAW_MANIFEST = sign_message(ALICE, manifest())

hexes = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40)
finite = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False).map(lambda f: f + 0.0)
counts = st.integers(min_value=0, max_value=2**63 - 1)
wire_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=80),
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=8) | st.binary(max_size=8), children, max_size=4),
    max_leaves=25,
)


def rejected(raw: bytes) -> bool:
    try:
        decode_and_verify(raw, now=NOW)
    except ProtocolError:
        return True
    return False


@SETTINGS
@given(st.sampled_from([RAW_RESULT, RAW_CLAIM, RAW_MANIFEST]), st.data())
def test_any_single_bit_flip_is_rejected(raw: bytes, data: st.DataObject) -> None:
    bit = data.draw(st.integers(min_value=0, max_value=len(raw) * 8 - 1))
    tampered = bytearray(raw)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert rejected(bytes(tampered))


@SETTINGS
@given(st.sampled_from([RAW_RESULT, RAW_CLAIM, RAW_MANIFEST]), st.data())
def test_any_truncation_is_rejected(raw: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    assert rejected(raw[:cut])


@SETTINGS
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_raise_protocol_errors(raw: bytes) -> None:
    assert rejected(raw)
    for expected in (SyncRequest, SyncResponse, CommitResponse, DataRequest):
        try:
            decode_request(raw, expected)
        except ProtocolError:
            pass


@SETTINGS
@given(wire_values, st.sampled_from(["result", "claim", "manifest", "other"]))
def test_arbitrary_msgpack_structures_only_raise_protocol_errors(value: object, kind: str) -> None:
    # as a whole message, as a validly signed body, and as the fields of a validly signed body
    assert rejected(msgpack.packb(value))
    assert rejected(msgpack.packb((1, kind, ALICE.public_key, msgpack.packb(value), b"\x00" * 64)))
    fields = tuple(value) if isinstance(value, list) else (value,)
    assert rejected(sign_body(ALICE, kind, fields))
    for expected in (SyncRequest, SyncResponse, CommitResponse, DataRequest):
        try:
            decode_request(msgpack.packb((1, "sync_req", *fields)), expected)
        except ProtocolError:
            pass


@SETTINGS
@given(
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    created_at=st.floats(min_value=0.0, max_value=NOW, allow_nan=False).map(lambda f: f + 0.0),
    commit=hexes,
    parent=hexes | st.just(""),
    blob=hexes,
    metric=st.floats(min_value=0.0, max_value=64.0).map(lambda f: f + 0.0),
    status=st.sampled_from(["keep", "discard", "crash"]),
    hw_class=st.from_regex(r"\A[a-z][a-z0-9]{0,15}:[A-Za-z0-9][A-Za-z0-9._+-]{0,63}\Z"),
    fingerprint=st.text(alphabet=string.printable.strip() + " é✓", max_size=512),
    budget=st.builds(BudgetRule, st.just("seconds"), st.integers(1, 86400))
    | st.builds(BudgetRule, st.just("tokens"), st.integers(1, 10**12)),
    steps=counts,
    tokens=counts,
    wall=finite,
    memory=finite,
    description=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=280),
    reproduces=st.binary(min_size=32, max_size=32) | st.just(b""),
)
def test_valid_results_always_pass(
    seq: int, created_at: float, commit: str, parent: str, blob: str, metric: float, status: str, hw_class: str,
    fingerprint: str, budget: BudgetRule, steps: int, tokens: int, wall: float, memory: float, description: str,
    reproduces: bytes,
) -> None:
    message = dataclasses.replace(
        result(), seq=seq, created_at=created_at, commit=commit, parent=parent, blob=blob, metric=metric,
        status=status, hw_class=hw_class, hw_fingerprint=fingerprint, budget=budget, steps=steps, tokens=tokens,
        wall_seconds=wall, peak_memory_mb=memory, description=description, reproduces=reproduces,
    )
    raw = sign_message(ALICE, message)
    verified = decode_and_verify(raw, now=NOW, expected_swarm=SWARM)
    assert isinstance(verified.message, Result) and verified.message == message
    assert sign_message(ALICE, message) == raw


def test_every_single_bit_flip_of_a_result_is_rejected() -> None:
    survivors = []
    for bit in range(len(RAW_RESULT) * 8):
        tampered = bytearray(RAW_RESULT)
        tampered[bit // 8] ^= 1 << (bit % 8)
        if not rejected(bytes(tampered)):
            survivors.append(bit)
    assert survivors == []


@SETTINGS
@given(st.sampled_from(["result", "claim", "manifest"]), st.data())
def test_one_junk_field_in_a_signed_body_only_raises_protocol_errors(kind: str, data: st.DataObject) -> None:
    from tests.unit.protocol.factories import wire_fields

    fields = list(wire_fields({"result": result, "claim": claim, "manifest": manifest}[kind]()))
    index = data.draw(st.integers(min_value=0, max_value=len(fields) - 1))
    fields[index] = data.draw(wire_values)
    try:
        decode_and_verify(sign_body(ALICE, kind, tuple(fields)), now=NOW)
    except ProtocolError:
        pass


@SETTINGS
@given(
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    created_at=st.floats(min_value=0.0, max_value=NOW + 600.0).map(lambda f: f + 0.0),
    lifetime=st.floats(min_value=0.001, max_value=24 * 3600.0),
    blob=hexes,
)
def test_valid_claims_always_pass(seq: int, created_at: float, lifetime: float, blob: str) -> None:
    expires_at = created_at + lifetime
    message = claim(seq=seq, created_at=created_at, blob=blob, expires_at=expires_at)
    if expires_at <= created_at or expires_at - created_at > 24 * 3600.0:
        return  # float rounding at the edges of the range
    now = min(created_at, expires_at - 0.0001)
    verified = decode_and_verify(sign_message(ALICE, message), now=now, expected_swarm=SWARM)
    assert verified.message == message
