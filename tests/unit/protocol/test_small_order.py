"""Small-order keys: the blocklist is exactly the 8-torsion (proved here with real curve arithmetic), and the
pipeline refuses an "anyone can sign" key whose forged signature OpenSSL alone would accept."""

from __future__ import annotations

import random

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import BadSignature, Identity, decode_and_verify
from protocol.envelope import signed_bytes
from protocol.small_order import SMALL_ORDER_ENCODINGS, is_weak_public_key
from tests.unit.protocol.factories import NOW, claim, wire_fields

P = 2**255 - 19
D = (-121665 * pow(121666, P - 2, P)) % P
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = (0, 1)


def decode(encoded: bytes) -> tuple[int, int] | None:
    number = int.from_bytes(encoded, "little")
    sign, y = number >> 255, number & ((1 << 255) - 1)
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
        if (v * x * x - u) % P:
            return None
    if x & 1 != sign:
        x = P - x
    return (x, y)


def encode(point: tuple[int, int]) -> bytes:
    return (point[1] | ((point[0] & 1) << 255)).to_bytes(32, "little")


def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P, (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P)


def mul(point: tuple[int, int], k: int) -> tuple[int, int]:
    result = IDENTITY
    while k:
        if k & 1:
            result = add(result, point)
        point, k = add(point, point), k >> 1
    return result


def test_the_blocklist_is_the_whole_eight_torsion() -> None:
    torsion = set()
    for encoded in SMALL_ORDER_ENCODINGS:
        point = decode(encoded)
        assert point is not None and mul(point, 8) == IDENTITY
        torsion |= {point, ((P - point[0]) % P, point[1])}
    assert len(torsion) == 8  # all of it: the 8-torsion has exactly 8 points
    for point in torsion:
        assert is_weak_public_key(encode(point))
    # and a torsion point reached independently: L times a random curve point
    rng = random.Random(1)
    while (point := decode(rng.randbytes(32))) is None:
        pass
    assert mul(point, L) in torsion


def test_ordinary_keys_are_not_weak_and_non_canonical_ones_are() -> None:
    for _ in range(100):
        assert not is_weak_public_key(Identity.generate().public_key)
    assert is_weak_public_key((P + 1).to_bytes(32, "little"))  # y = p + 1: a non-canonical 1
    assert is_weak_public_key(b"\x01" * 31)


def test_anyone_can_sign_key_is_refused_by_the_pipeline() -> None:
    weak = SMALL_ORDER_ENCODINGS[0]
    fields = list(wire_fields(claim()))
    fields[1] = weak  # the author
    body = msgpack.packb((1, "claim", *fields))
    forged_signature = weak + bytes(32)
    Ed25519PublicKey.from_public_bytes(weak).verify(forged_signature, signed_bytes(1, body))  # OpenSSL accepts it
    raw = msgpack.packb((1, "claim", weak, body, forged_signature))
    with pytest.raises(BadSignature, match="small order"):
        decode_and_verify(raw, now=NOW)
