"""The validation pipeline: round trips, and each hostile input rejected with its own error."""

from __future__ import annotations

import dataclasses
import hashlib

import msgpack
import pytest

from protocol import (
    AuthorMismatch,
    BadSignature,
    Claim,
    InvalidValue,
    LimitExceeded,
    Limits,
    MalformedMessage,
    ProtocolError,
    PROTOCOL_VERSION,
    Result,
    SchemaError,
    StaleMessage,
    UnexpectedKind,
    UnsupportedVersion,
    WrongSender,
    WrongSwarm,
    decode_and_verify,
    sign_message,
    swarm_id_of,
)
from protocol.envelope import signed_bytes
from tests.unit.protocol.factories import ALICE, BOB, NOW, SWARM, claim, manifest, result, sign_body, wire_fields


def verify(raw: bytes, **kwargs: object) -> object:
    return decode_and_verify(raw, now=NOW, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [result, claim, manifest], ids=["result", "claim", "manifest"])
def test_every_signed_kind_round_trips_with_the_exact_bytes(make) -> None:
    message = make()
    raw = sign_message(ALICE, message)
    verified = decode_and_verify(raw, now=NOW)
    assert verified.message == message
    assert verified.author == ALICE.public_key
    assert verified.raw == raw
    assert verified.message_id == hashlib.sha256(raw).digest()
    assert verified.peer_id == ALICE.peer_id
    assert sign_message(ALICE, message) == raw  # canonical: same message, same bytes


def test_attestation_and_crash_round_trip() -> None:
    original = sign_message(BOB, result(BOB))
    attestation = result(seq=2, reproduces=hashlib.sha256(original).digest())
    crash = result(seq=3, status="crash", metric=0.0, commit="", description="OOM at step 3")
    for message in (attestation, crash):
        assert decode_and_verify(sign_message(ALICE, message), now=NOW).message == message


def test_int_given_for_a_float_is_written_as_float64() -> None:
    message = result(peak_memory_mb=800, wall_seconds=60)
    decoded = decode_and_verify(sign_message(ALICE, message), now=NOW).message
    assert isinstance(decoded, Result)
    assert type(decoded.peak_memory_mb) is float and decoded.peak_memory_mb == 800.0


def test_manifest_id_is_the_swarm_id() -> None:
    raw = sign_message(ALICE, manifest())
    sid = swarm_id_of(raw)
    assert decode_and_verify(raw, now=NOW, expected_swarm=sid).message_id == sid
    with pytest.raises(WrongSwarm):
        decode_and_verify(raw, now=NOW, expected_swarm=SWARM)


def test_forged_author_signed_by_a_claims_b() -> None:
    # body says Bob, Alice signs it and puts her own key on the envelope
    forged = sign_body(ALICE, "result", wire_fields(result(BOB)))
    with pytest.raises(AuthorMismatch):
        verify(forged)
    # body says Bob, Alice signs it and puts Bob's key on the envelope
    forged2 = sign_body(ALICE, "result", wire_fields(result(BOB)), envelope_author=BOB.public_key)
    with pytest.raises(BadSignature):
        verify(forged2)
    with pytest.raises(AuthorMismatch):
        sign_message(ALICE, result(BOB))


def test_wrong_swarm() -> None:
    with pytest.raises(WrongSwarm):
        verify(sign_message(ALICE, result()), expected_swarm=bytes(32))
    with pytest.raises(WrongSwarm):
        verify(sign_message(ALICE, claim()), expected_swarm=bytes(32))


def test_stale_timestamps() -> None:
    skew = Limits().future_skew
    with pytest.raises(StaleMessage):
        verify(sign_message(ALICE, result(created_at=NOW + skew + 1.0)))
    verify(sign_message(ALICE, result(created_at=NOW + skew - 1.0)))
    verify(sign_message(ALICE, result(created_at=NOW - 365 * 86400.0)))  # the past is fine (sync)
    with pytest.raises(StaleMessage):
        verify(sign_message(ALICE, claim(created_at=NOW - 600.0, expires_at=NOW - 1.0)))


def test_wrong_sender() -> None:
    raw = sign_message(ALICE, claim())
    assert verify(raw, sender=ALICE.peer_id)
    with pytest.raises(WrongSender):
        verify(raw, sender=BOB.peer_id)


def test_expected_kind() -> None:
    with pytest.raises(UnexpectedKind):
        verify(sign_message(ALICE, claim()), expect=Result)
    assert verify(sign_message(ALICE, claim()), expect=(Result, Claim))


@pytest.mark.parametrize(
    "changes",
    [
        {"metric": float("nan")},
        {"metric": float("inf")},
        {"metric": -0.0},
        {"metric": 65.0},
        {"metric": -1.0},
        {"status": "maybe"},
        {"hw_class": "H100 (80GB)"},
        {"commit": "ABC"},
        {"blob": "z" * 40},
        {"steps": -1},
        {"seq": 0},
        {"commit": ""},  # a kept result names its commit
        {"wall_seconds": -1.0},
        {"description": "two\nlines"},
        {"budget": dataclasses.replace(result().budget, amount=0)},
    ],
)
def test_impossible_values_are_refused_at_both_ends(changes: dict[str, object]) -> None:
    bad = result(**changes)
    with pytest.raises(InvalidValue):
        sign_message(ALICE, bad)
    with pytest.raises(InvalidValue):
        verify(sign_body(ALICE, "result", wire_fields(bad)))


def test_crash_may_carry_any_finite_metric_but_not_nan() -> None:
    verify(sign_message(ALICE, result(status="crash", metric=1e9)))
    with pytest.raises(InvalidValue):
        verify(sign_body(ALICE, "result", wire_fields(result(status="crash", metric=float("nan")))))


@pytest.mark.parametrize(
    "changes",
    [
        {"description": "x" * 281},
        {"hw_fingerprint": "f" * 513},
    ],
)
def test_oversized_fields(changes: dict[str, object]) -> None:
    with pytest.raises(LimitExceeded):
        sign_message(ALICE, result(**changes))
    with pytest.raises(LimitExceeded):
        verify(sign_body(ALICE, "result", wire_fields(result(**changes))))


def test_oversized_envelopes_are_refused_before_decoding() -> None:
    with pytest.raises(LimitExceeded):
        verify(b"\x00" * (Limits().max_manifest_envelope + 1))
    big = sign_body(ALICE, "claim", (*wire_fields(claim()), b"x" * 17_000))
    with pytest.raises(LimitExceeded):
        verify(big)
    huge_program = manifest(program="p" * 200_000)
    with pytest.raises(LimitExceeded):
        sign_message(ALICE, huge_program)


@pytest.mark.parametrize(
    "index, value",
    [
        (2, True),  # bool for the int seq
        (3, int(NOW)),  # int for the float created_at
        (0, SWARM.hex()),  # str for bytes
        (0, SWARM[:31]),  # wrong length
        (11, ("seconds", 60, 1)),  # budget of the wrong arity
        (11, {"kind": "seconds", "amount": 60}),  # a map where an array goes
    ],
)
def test_wrong_types_on_the_wire(index: int, value: object) -> None:
    fields = list(wire_fields(result()))
    fields[index] = value
    with pytest.raises(SchemaError):
        verify(sign_body(ALICE, "result", tuple(fields)))


def test_wrong_arity_and_kind_mismatch() -> None:
    with pytest.raises(SchemaError):
        verify(sign_body(ALICE, "result", wire_fields(result())[:-1]))
    with pytest.raises(SchemaError):
        verify(sign_body(ALICE, "claim", wire_fields(claim()), envelope_kind="result"))


def test_unsupported_version() -> None:
    with pytest.raises(UnsupportedVersion):
        verify(sign_body(ALICE, "result", wire_fields(result()), version=PROTOCOL_VERSION + 1))


def test_duplicate_keys_trailing_bytes_and_float32() -> None:
    raw = sign_message(ALICE, result())
    with pytest.raises(MalformedMessage):
        verify(raw + b"\x00")
    dup = b"\x82\xa1a\x01\xa1a\x02"  # {"a": 1, "a": 2}
    with pytest.raises(MalformedMessage, match="duplicate"):
        verify(dup)
    fields = list(wire_fields(result()))
    body = msgpack.packb((1, "result", *fields), use_bin_type=True, use_single_float=True)
    envelope = msgpack.packb((1, "result", ALICE.public_key, body, ALICE.sign(signed_bytes(1, body))))
    with pytest.raises(MalformedMessage, match="non-canonical"):
        verify(envelope)


def test_tampered_signature_body_and_key() -> None:
    raw = bytearray(sign_message(ALICE, result()))
    for position in (len(raw) - 1, len(raw) - 100, 40):
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        with pytest.raises(ProtocolError):
            verify(bytes(tampered))


def test_non_bytes_input() -> None:
    with pytest.raises(MalformedMessage):
        verify("not bytes")  # type: ignore[arg-type]
    assert verify(bytearray(sign_message(ALICE, result())))


def test_seal_is_what_its_receivers_verify() -> None:
    from protocol import seal

    sealed = seal(ALICE, result(seq=4))
    received = verify(sealed.raw, expected_swarm=SWARM)
    assert sealed == received  # same message, author, body, raw bytes and message id, without a decode by the signer
    assert sealed.message_id == hashlib.sha256(sealed.raw).digest()
    with pytest.raises(AuthorMismatch):
        seal(BOB, result(seq=5))  # signs only as the message's author, like sign_message
