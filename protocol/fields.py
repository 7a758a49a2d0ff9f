"""Field specs: how each dataclass field goes to the wire and comes back, strictly.

A ``Schema`` lists a dataclass's fields in order with one spec each. Decoding refuses any type conversion (a bool is not
an int, an int is not a float, str is not bytes); encoding is strict too, except that an int given for a float field is
written as float64 (so the wire never carries an int there). Length bounds raise ``LimitExceeded``; impossible values
(NaN, negative counts, bad hex) raise ``InvalidValue``; wrong types and arity raise ``SchemaError``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, fields
from typing import Any, Callable, Generic, Protocol, TypeVar

from protocol.canonical import Wire, check_float
from protocol.errors import InvalidValue, LimitExceeded, SchemaError
from protocol.limits import Limits

__all__ = ["Spec", "Int", "Float", "Bool", "Text", "Blob", "Hex", "Choice", "Nested", "SeqOf", "PairOf", "Schema"]

T = TypeVar("T")
INT_MAX = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_NO_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@functools.lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class Spec(Protocol):
    def to_wire(self, value: Any, name: str, limits: Limits) -> Wire: ...
    def from_wire(self, value: Wire, name: str, limits: Limits) -> Any: ...


def _type_error(name: str, want: str, value: object) -> SchemaError:
    return SchemaError(f"{name} must be {want}, not {type(value).__name__}")


@dataclass(frozen=True)
class Int:
    lo: int = 0
    hi: int = INT_MAX

    def from_wire(self, value: Wire, name: str, limits: Limits) -> int:
        if type(value) is not int:
            raise _type_error(name, "an int", value)
        if not self.lo <= value <= self.hi:
            raise InvalidValue(f"{name}={value} out of range {self.lo}..{self.hi}")
        return value

    to_wire = from_wire


@dataclass(frozen=True)
class Float:
    lo: float | None = None
    hi: float | None = None

    def from_wire(self, value: Wire, name: str, limits: Limits) -> float:
        if type(value) is not float:
            raise _type_error(name, "a float", value)
        check_float(value, name)
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise InvalidValue(f"{name}={value!r} out of range {self.lo}..{self.hi}")
        return value

    def to_wire(self, value: Any, name: str, limits: Limits) -> float:
        if type(value) is int:
            value = float(value)
        return self.from_wire(value, name, limits)


@dataclass(frozen=True)
class Bool:
    def from_wire(self, value: Wire, name: str, limits: Limits) -> bool:
        if type(value) is not bool:
            raise _type_error(name, "a bool", value)
        return value

    to_wire = from_wire


@dataclass(frozen=True)
class Text:
    """A str of at most ``getattr(limits, limit)`` characters (or ``max_chars``); no control characters."""

    limit: str = ""
    max_chars: int = 0
    multiline: bool = False
    pattern: str = ""
    min_chars: int = 0

    def from_wire(self, value: Wire, name: str, limits: Limits) -> str:
        if type(value) is not str:
            raise _type_error(name, "a str", value)
        bound = getattr(limits, self.limit) if self.limit else self.max_chars
        if len(value) > bound:
            raise LimitExceeded(f"{name} has {len(value)} characters > {bound}")
        if len(value) < self.min_chars:
            raise InvalidValue(f"{name} is shorter than {self.min_chars} characters")
        if (_CONTROL_NO_NEWLINE if self.multiline else _CONTROL).search(value):
            raise InvalidValue(f"{name} contains control characters")
        if self.pattern and not _compiled(self.pattern).fullmatch(value):
            raise InvalidValue(f"{name}={value!r} does not match {self.pattern}")
        return value

    to_wire = from_wire


@dataclass(frozen=True)
class Blob:
    """Bytes of one of ``sizes`` exactly, or (``sizes=()``) at most ``getattr(limits, limit)``."""

    sizes: tuple[int, ...] = ()
    limit: str = ""

    def from_wire(self, value: Wire, name: str, limits: Limits) -> bytes:
        if type(value) is not bytes:
            raise _type_error(name, "bytes", value)
        if self.sizes:
            if len(value) not in self.sizes:
                raise SchemaError(f"{name} must be {' or '.join(map(str, self.sizes))} bytes, not {len(value)}")
        elif len(value) > getattr(limits, self.limit):
            raise LimitExceeded(f"{name} has {len(value)} bytes > {getattr(limits, self.limit)}")
        return value

    def to_wire(self, value: Any, name: str, limits: Limits) -> bytes:
        if type(value) in (bytearray, memoryview):
            value = bytes(value)
        return self.from_wire(value, name, limits)


_HEX = re.compile(r"[0-9a-f]*")


@dataclass(frozen=True)
class Hex:
    """A lowercase hex str of one of ``lengths`` characters (git object ids: 40 for sha1, 64 for sha256)."""

    lengths: tuple[int, ...] = (40, 64)
    empty: bool = False

    def from_wire(self, value: Wire, name: str, limits: Limits) -> str:
        if type(value) is not str:
            raise _type_error(name, "a hex str", value)
        if value == "" and self.empty:
            return value
        if len(value) not in self.lengths or not _HEX.fullmatch(value):
            raise InvalidValue(f"{name} must be {self.lengths} lowercase hex characters, not {value[:80]!r}")
        return value

    to_wire = from_wire


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    def from_wire(self, value: Wire, name: str, limits: Limits) -> str:
        if type(value) is not str:
            raise _type_error(name, "a str", value)
        if value not in self.values:
            raise InvalidValue(f"{name}={value[:80]!r} is not one of {self.values}")
        return value

    to_wire = from_wire


@dataclass(frozen=True)
class Nested(Generic[T]):
    schema: Schema[T]

    def from_wire(self, value: Wire, name: str, limits: Limits) -> T:
        if type(value) is not tuple:
            raise _type_error(name, "an array", value)
        return self.schema.from_wire(value, limits, name)

    def to_wire(self, value: Any, name: str, limits: Limits) -> tuple[Wire, ...]:
        if type(value) is not self.schema.cls:
            raise _type_error(name, self.schema.cls.__name__, value)
        return self.schema.to_wire(value, limits, name)


@dataclass(frozen=True)
class SeqOf:
    """A tuple of items of one spec, at most ``getattr(limits, limit)`` of them."""

    item: Spec
    limit: str

    def from_wire(self, value: Wire, name: str, limits: Limits) -> tuple[Any, ...]:
        if type(value) is not tuple:
            raise _type_error(name, "an array", value)
        bound = getattr(limits, self.limit)
        if len(value) > bound:
            raise LimitExceeded(f"{name} has {len(value)} items > {bound}")
        return tuple(self.item.from_wire(v, f"{name}[{i}]", limits) for i, v in enumerate(value))

    def to_wire(self, value: Any, name: str, limits: Limits) -> tuple[Wire, ...]:
        if type(value) not in (tuple, list):
            raise _type_error(name, "a tuple", value)
        bound = getattr(limits, self.limit)
        if len(value) > bound:
            raise LimitExceeded(f"{name} has {len(value)} items > {bound}")
        return tuple(self.item.to_wire(v, f"{name}[{i}]", limits) for i, v in enumerate(value))


@dataclass(frozen=True)
class PairOf:
    first: Spec
    second: Spec

    def from_wire(self, value: Wire, name: str, limits: Limits) -> tuple[Any, Any]:
        if type(value) is not tuple or len(value) != 2:
            raise _type_error(name, "a pair", value)
        return (self.first.from_wire(value[0], name, limits), self.second.from_wire(value[1], name, limits))

    def to_wire(self, value: Any, name: str, limits: Limits) -> tuple[Wire, Wire]:
        if type(value) not in (tuple, list) or len(value) != 2:
            raise _type_error(name, "a pair", value)
        return (self.first.to_wire(value[0], name, limits), self.second.to_wire(value[1], name, limits))


class Schema(Generic[T]):
    """The wire form of one dataclass: its fields in dataclass order, one spec each, as a msgpack array.

    An older version's schema lists a prefix of the fields and a ``fill`` that gives the rest (decode only)."""

    def __init__(self, cls: type[T], specs: dict[str, Spec],
                 fill: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        if names[: len(specs)] != tuple(specs) or (fill is None and names != tuple(specs)):
            raise TypeError(f"schema of {cls.__name__} lists {tuple(specs)}, the dataclass has {names}")
        self.fill = fill
        self.cls = cls
        self.items = tuple(specs.items())
        self._labelled = tuple((n, spec, f"{cls.__name__}.{n}") for n, spec in self.items)
        # every field is checked and given, so a plain dataclass can skip its generated (frozen, slow) __init__
        self._direct = not hasattr(cls, "__post_init__") and "__slots__" not in cls.__dict__

    def to_wire(self, message: T, limits: Limits, where: str = "") -> tuple[Wire, ...]:
        return tuple(spec.to_wire(getattr(message, n), label, limits) for n, spec, label in self._labelled)

    def from_wire(self, values: tuple[Wire, ...], limits: Limits, where: str = "") -> T:
        if len(values) != len(self._labelled):
            raise SchemaError(f"{where or self.cls.__name__} has {len(values)} fields, expected {len(self.items)}")
        kwargs = {}
        for (name, spec, label), value in zip(self._labelled, values):
            kwargs[name] = spec.from_wire(value, label, limits)
        if self.fill is not None:
            kwargs = self.fill(kwargs)
        if self._direct:
            message = object.__new__(self.cls)
            message.__dict__.update(kwargs)
            return message
        return self.cls(**kwargs)
