"""Canonical msgpack: one byte form per value, decoded strictly.

Every message is a msgpack array (never a map): the field order is the dataclass order. The canonical form is what
``msgpack.packb`` writes for plain ``int``/``float``/``str``/``bytes``/``bool``/``None``/``tuple``: the shortest int
form, float64 for every float, str for text, bin for bytes. :func:`unpack` accepts exactly that form: it re-packs what
it decoded and compares, which rejects float32, over-long headers and anything else a second encoder could produce.
It also rejects trailing bytes, ext types, duplicate map keys and NaN/inf/-0.0 anywhere.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack

from protocol.errors import InvalidValue, LimitExceeded, MalformedMessage

__all__ = ["pack", "unpack", "check_float"]

Wire = Any  # a decoded msgpack value: None | bool | int | float | str | bytes | tuple[Wire, ...] | dict[Wire, Wire]


def check_float(value: float, name: str) -> None:
    """Raise ``InvalidValue`` for NaN, +-inf and -0.0 (they have no single canonical meaning on the wire)."""
    if not math.isfinite(value):
        raise InvalidValue(f"{name} is not finite: {value!r}")
    if value == 0.0 and math.copysign(1.0, value) < 0:
        raise InvalidValue(f"{name} is -0.0")


def _pairs_hook(pairs: list[tuple[Wire, Wire]]) -> dict[Wire, Wire]:
    result: dict[Wire, Wire] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedMessage(f"duplicate map key {key!r}")
        result[key] = value
    return result


def _check_floats(value: Wire) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            check_float(item, "a float")
        elif kind is tuple:
            stack.extend(item)
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())


def pack(value: Wire) -> bytes:
    """The canonical bytes of ``value`` (already checked by the schema: plain types, finite floats)."""
    try:
        packed: bytes = msgpack.packb(value, use_bin_type=True, use_single_float=False)
        return packed
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError) as exc:
        raise MalformedMessage(f"cannot encode: {exc}") from exc


def unpack(raw: bytes, *, max_len: int, check_floats: bool = True) -> Wire:
    """Decode ``raw`` (at most ``max_len`` bytes) strictly; raise only ``ProtocolError`` subclasses.

    ``check_floats=False`` skips the NaN/inf/-0.0 scan for callers whose schema checks every float it accepts
    (``protocol.fields.Float``) and refuses floats everywhere else: the hot path of ``decode_and_verify``."""
    if len(raw) > max_len:
        raise LimitExceeded(f"{len(raw)} bytes > {max_len}")
    try:
        value = msgpack.unpackb(
            raw,
            raw=False,
            use_list=False,
            strict_map_key=True,
            object_pairs_hook=_pairs_hook,
            max_str_len=max_len,
            max_bin_len=max_len,
            max_array_len=max_len,
            max_map_len=max_len,
            max_ext_len=0,
        )
    except MalformedMessage:
        raise
    except msgpack.ExtraData as exc:
        raise MalformedMessage("trailing bytes after the message") from exc
    except Exception as exc:  # msgpack raises ValueError, TypeError, StackError, UnicodeDecodeError, ...
        raise MalformedMessage(f"not strict msgpack: {type(exc).__name__}: {exc}") from exc
    try:
        again = msgpack.packb(value, use_bin_type=True, use_single_float=False)
    except Exception as exc:  # nesting deeper than msgpack's pack limit, and the like
        raise MalformedMessage(f"cannot re-encode: {type(exc).__name__}: {exc}") from exc
    if again != raw:
        raise MalformedMessage("non-canonical encoding (float32, over-long header or similar)")
    if check_floats:
        _check_floats(value)
    return value
