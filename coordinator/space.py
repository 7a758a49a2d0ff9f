"""The search space of a train.py: one ``Param`` per UPPER_CASE knob, inferred from its value and its comment.

Inference (``infer_space``), from the knob's current value:

- bool: both values; a short string: the quoted names in its comment (``"gelu" | "relu2"``) or its ``knobs.CHOICES`` set;
- an int that is a power of two (> 1): powers of two from value/4 to value*4 (sizes: widths, heads, batch);
- another int: value/4 to value*4 on a log scale (0: 0 to 16 linear); at least 1 unless it is 0;
- a float in (0, 1) named BETA/MOMENTUM: 1 - beta on a log scale, gap/4 to gap*4 (0.95 -> 0.8 .. 0.9875);
- a float named DROPOUT (or 0.0): linear 0 .. 0.5 (0 .. 1 for a 0.0 FRAC/RATIO/DECAY);
- another positive float: value/10 to value*10 on a log scale, clipped to 1 for RATIO/FRAC/DECAY/DROPOUT names;
- a range written in the comment (``[1, 8]`` or ``1..8``) replaces the inferred one.

Overrides in program.md: a line ``tune NAME int 1..8``, ``tune NAME float 1e-4..1e-1 log``, ``tune NAME choice a|b|c``
or ``tune NAME fixed`` (never tuned). Anything else on a ``tune`` line is refused with a logged reason, never raised:
program.md comes from the swarm's manifest.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Literal, Mapping

from coordinator.knobs import CHOICES, Knob, read_knobs

__all__ = ["Param", "infer_space", "parse_overrides", "snap", "Value"]

log = logging.getLogger(__name__)

Value = int | float | bool | str
Kind = Literal["int", "pow2", "float", "beta", "choice"]

MAX_OVERRIDES = 64
_QUOTED = re.compile(r'"([A-Za-z0-9_.-]{1,32})"')
_RANGE = re.compile(r"(?:\[\s*|\b)(-?[0-9.eE+-]+)\s*(?:,|\.\.)\s*(-?[0-9.eE+-]+)\s*\]?")
_TUNE = re.compile(r"^\s*(?:[-*]\s*)?`?tune\s+([A-Z][A-Z0-9_]*)\s+(.{1,200}?)`?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Param:
    """One tunable knob: ``kind`` and its bounds (``choices`` for bool and choice knobs)."""

    name: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Value, ...] = ()

    def internal(self, value: Value) -> Value | None:
        """``value`` as the study holds it (exponent of a pow2, 1 - beta), clipped into range; None if it cannot be."""
        if self.kind == "choice":
            return value if any(value == c and type(value) is type(c) for c in self.choices) else None
        if isinstance(value, (bool, str)) or not math.isfinite(value):
            return None
        if self.kind == "pow2":
            if not isinstance(value, int) or value < 1 or value & (value - 1):
                return None
            return int(min(max(value.bit_length() - 1, self.low), self.high))
        if self.kind == "int":
            return int(min(max(round(value), self.low), self.high)) if isinstance(value, int) else None
        x = 1.0 - value if self.kind == "beta" else float(value)
        return float(min(max(x, self.low), self.high))


def _comment(text_lines: list[str], knob: Knob) -> str:
    line = text_lines[knob.line - 1].encode("utf-8")[knob.end_col:].decode("utf-8", "replace")
    return line.split("#", 1)[1] if "#" in line else ""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _inferred(knob: Knob, comment: str) -> Param | None:
    name, value, upper = knob.name, knob.value, knob.name.upper()
    if isinstance(value, bool):
        return Param(name, "choice", choices=(False, True))
    if isinstance(value, str):
        quoted = tuple(dict.fromkeys(_QUOTED.findall(comment)))
        group = quoted if value in quoted and len(quoted) > 1 else next((g for g in CHOICES if value in g), ())
        return Param(name, "choice", choices=tuple(group)) if len(group) > 1 else None
    written = _RANGE.search(comment)
    low_high = None
    if written:
        lo, hi = _number(written.group(1)), _number(written.group(2))
        if lo is not None and hi is not None and lo < hi:
            low_high = (lo, hi)
    if isinstance(value, int):
        if low_high is not None:
            lo, hi = math.ceil(low_high[0]), math.floor(low_high[1])
            return Param(name, "int", lo, hi, log=lo > 0) if lo < hi else None
        if value > 1 and value & (value - 1) == 0:
            exp = value.bit_length() - 1
            return Param(name, "pow2", max(0, exp - 2), exp + 2)
        if value == 0:
            return Param(name, "int", 0, 16)
        if value < 0:
            return None
        return Param(name, "int", max(1, value // 4), value * 4, log=True)
    bounded = any(w in upper for w in ("RATIO", "FRAC", "DECAY", "DROPOUT"))
    if low_high is not None:
        lo, hi = low_high
        return Param(name, "float", lo, hi, log=lo > 0 and hi / lo >= 10)
    if ("BETA" in upper or "MOMENTUM" in upper) and 0 < value < 1:
        gap = 1.0 - value
        return Param(name, "beta", max(1e-4, gap / 4), min(0.5, gap * 4), log=True)
    if "DROPOUT" in upper or value == 0.0:
        return Param(name, "float", 0.0, 1.0 if value == 0.0 and bounded and "DROPOUT" not in upper else 0.5)
    if value < 0:
        return None
    high = value * 10
    if bounded:
        high = min(1.0, high)
    return Param(name, "float", value / 10, high, log=True) if value / 10 < high else None


def parse_overrides(program: str, knobs: Mapping[str, Knob]) -> dict[str, Param | None]:
    """The ``tune`` lines of program.md: name -> Param (None: fixed). Bad lines are logged and skipped."""
    out: dict[str, Param | None] = {}
    for match in list(_TUNE.finditer(program[:200_000]))[:MAX_OVERRIDES]:
        name, spec = match.group(1), match.group(2).split()
        param = _override(name, spec, knobs.get(name))
        if param is False:
            log.warning("program.md: ignoring %r (write: tune NAME int 1..8 | float 1e-4..1e-1 log | "
                        "choice a|b | fixed)", match.group(0).strip()[:120])
            continue
        out[name] = param  # type: ignore[assignment]
    return out


def _override(name: str, spec: list[str], knob: Knob | None) -> Param | None | bool:
    if knob is None or not spec:
        return False
    kind = spec[0]
    if kind == "fixed" and len(spec) == 1:
        return None
    if kind == "choice" and len(spec) == 2:
        names = tuple(dict.fromkeys(spec[1].split("|")))
        if isinstance(knob.value, str) and knob.value in names and len(names) > 1:
            return Param(name, "choice", choices=names)
        return False
    if kind in ("int", "float") and len(spec) in (2, 3) and ".." in spec[1]:
        lo_text, _, hi_text = spec[1].partition("..")
        lo, hi = _number(lo_text), _number(hi_text)
        log_scale = len(spec) == 3 and spec[2] == "log"
        if lo is None or hi is None or lo >= hi or (len(spec) == 3 and not log_scale) or (log_scale and lo <= 0):
            return False
        if kind == "int":
            if not isinstance(knob.value, int) or isinstance(knob.value, bool) or lo != int(lo) or hi != int(hi):
                return False
            return Param(name, "int", lo, hi, log=log_scale)
        if not isinstance(knob.value, float):
            return False
        return Param(name, "float", lo, hi, log=log_scale)
    return False


def infer_space(text: str, program: str = "") -> dict[str, Param]:
    """name -> Param for every knob of ``text`` that can be tuned (raises KnobError when the file does not parse)."""
    knobs = {k.name: k for k in read_knobs(text)}
    lines = text.splitlines()
    overrides = parse_overrides(program, knobs) if program else {}
    space: dict[str, Param] = {}
    for name, knob in knobs.items():
        param = overrides[name] if name in overrides else _inferred(knob, _comment(lines, knob))
        if param is not None:
            space[name] = param
    return space


def snap(param: Param, value: Value) -> Value:
    """A sampled value in the form train.py writes it: ints as ints, floats at 2 significant digits."""
    if param.kind == "choice" or isinstance(value, (bool, str)):
        return value
    if param.kind == "pow2":
        return 1 << int(value)
    if param.kind == "int":
        return int(round(value))
    if param.kind == "beta":
        return float(f"{1.0 - float(f'{value:.2g}'):.6g}")
    return float(f"{value:.2g}") if value != 0 else 0.0
