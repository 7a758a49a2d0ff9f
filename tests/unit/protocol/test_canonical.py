"""Canonical msgpack: one byte form per value, everything else refused with a ProtocolError."""

from __future__ import annotations

import struct

import msgpack
import pytest

from protocol import InvalidValue, LimitExceeded, MalformedMessage
from protocol.canonical import pack, unpack


def test_round_trip_and_stability() -> None:
    value = (1, "result", b"\x00" * 32, 2.5, True, None, (3, -4, "é"), 2**63 - 1)
    raw = pack(value)
    assert unpack(raw, max_len=1024) == value
    assert pack(unpack(raw, max_len=1024)) == raw


@pytest.mark.parametrize(
    "raw, why",
    [
        (b"", "empty"),
        (b"\x92\x01", "truncated"),
        (b"\x91\x01\x02", "trailing"),
        (b"\xc1", "reserved byte"),
        (b"\x82\xa1a\x01\xa1a\x02", "duplicate map key"),
        (b"\x81\x01\x02", "int map key"),
        (b"\xd4\x01\x00", "ext type"),
        (b"\xd6\xff\x00\x00\x00\x01", "timestamp ext"),
        (b"\xa2\xff\xfe", "invalid utf-8"),
        (b"\xcc\x05", "uint8 form of 5"),
        (b"\xd9\x01a", "str8 form of a short str"),
        (b"\xca" + struct.pack(">f", 1.5), "float32"),
        (b"\xdc\x00\x01\x01", "array16 of one item"),
        (b"\x91" * 5000 + b"\x01", "deep nesting"),
    ],
)
def test_malformed_or_non_canonical(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedMessage):
        unpack(raw, max_len=1 << 16)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), -0.0])
def test_non_finite_and_negative_zero_floats(value: float) -> None:
    with pytest.raises(InvalidValue):
        unpack(msgpack.packb((1, (value,))), max_len=64)


def test_size_bound_and_declared_lengths() -> None:
    with pytest.raises(LimitExceeded):
        unpack(pack(b"x" * 100), max_len=50)
    with pytest.raises(MalformedMessage):
        unpack(b"\xc6\xff\xff\xff\xff", max_len=64)  # bin32 claiming 4 GiB


def test_pack_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(MalformedMessage):
        pack(object())
    with pytest.raises(MalformedMessage):
        pack("\ud800")  # a lone surrogate is not UTF-8
