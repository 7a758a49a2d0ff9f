"""The UPPER_CASE knobs of a train.py: read them with ``ast``, step one of them, rewrite only its value.

A knob is a top-level ``NAME = <constant>`` (or ``NAME: type = <constant>``) whose value is an int, a float, a bool or a
short string from a known choice set. Rewriting replaces the value's exact span on its line, so comments and formatting
survive and the diff shows one changed value.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Literal

from coordinator.errors import KnobError

__all__ = ["Knob", "read_knobs", "step_knob", "rewrite", "format_value", "describe", "parse_change", "CHOICES"]

Direction = Literal["up", "down", "flip", "next"]

# Short string knobs the mutate agent may cycle through (a value outside every set is left alone).
CHOICES: tuple[tuple[str, ...], ...] = (
    ("gelu", "relu2", "swiglu"),
    ("layernorm", "rmsnorm"),
    ("rotary", "learned"),
)
# Knobs that change what is printed or locked, never the score: not worth an experiment.
SKIP = re.compile(r"LOG|EVERY|PRINT|SEED|VERBOSE")
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class Knob:
    """One knob: its name, value, and where the value sits in the file (1-based line, 0-based columns)."""

    name: str
    value: int | float | bool | str
    line: int
    col: int
    end_col: int

    @property
    def kind(self) -> str:
        if isinstance(self.value, bool):
            return "bool"
        return type(self.value).__name__


def _literal(node: ast.expr) -> int | float | bool | str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool, str)):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool)):
        return -node.operand.value
    return None


def read_knobs(text: str) -> list[Knob]:
    """The knobs of ``text`` in file order; raises KnobError when the file does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        raise KnobError(f"train.py does not parse: {exc}") from exc
    knobs: dict[str, Knob] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name, value_node = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            name, value_node = stmt.target.id, stmt.value
        else:
            continue
        value = _literal(value_node)
        if value is None or not _NAME.match(name) or SKIP.search(name) or value_node.lineno != value_node.end_lineno:
            continue
        if isinstance(value, str) and not any(value in group for group in CHOICES):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        assert value_node.end_col_offset is not None
        knobs[name] = Knob(name, value, value_node.lineno, value_node.col_offset, value_node.end_col_offset)
    return list(knobs.values())


def format_value(value: int | float | bool | str) -> str:
    """Python source for a knob value: floats short (``6e-3``, ``0.9``), strings double-quoted."""
    if isinstance(value, bool) or isinstance(value, int):
        return repr(value)
    if isinstance(value, str):
        return '"' + value + '"'
    if value == 0:
        return "0.0"
    if 1e-2 <= abs(value) < 1e4:
        text = f"{value:.3g}"
        return text if any(c in text for c in ".e") else text + ".0"
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _bounds(name: str, value: int | float) -> tuple[float, float]:
    upper = name.upper()
    if isinstance(value, int):
        return (0, 1 << 16) if value == 0 else (1, 1 << 16)
    if "DROPOUT" in upper:
        return 0.0, 0.5
    if "BETA" in upper or "MOMENTUM" in upper:
        return 0.5, 0.9999
    if "DECAY" in upper or "FRAC" in upper or "RATIO" in upper:
        return 0.0, 1.0
    if "LR" in upper or "RATE" in upper:
        return 1e-6, 1.0
    if "CLIP" in upper or "NORM" in upper:
        return 0.0, 100.0
    return -1e6, 1e6


def _is_power_of_two(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


def step_knob(knob: Knob, direction: Direction) -> int | float | bool | str | None:
    """The value one step from ``knob.value`` in ``direction``, bounded to a sane range; None when no step exists."""
    value = knob.value
    if isinstance(value, bool):
        return (not value) if direction == "flip" else None
    if isinstance(value, str):
        if direction != "next":
            return None
        group = next(g for g in CHOICES if value in g)
        return group[(group.index(value) + 1) % len(group)]
    if direction not in ("up", "down"):
        return None
    low, high = _bounds(knob.name, value)
    up = direction == "up"
    new: int | float
    if isinstance(value, int):
        if _is_power_of_two(value):
            new = value * 2 if up else value // 2
        elif value == 0:
            new = 1 if up else 0
        else:
            delta = max(1, round(abs(value) * 0.25))
            new = value + delta if up else value - delta
    else:
        upper = knob.name.upper()
        if ("BETA" in upper or "MOMENTUM" in upper) and 0 < value < 1:
            gap = 1.0 - value  # log steps of 1 - beta: 0.9 -> 0.95 -> 0.975
            new = 1.0 - (gap / 2 if up else gap * 2)
            new = float(f"{new:.4g}")
        elif value == 0.0:
            new = (0.05 if (high - low) <= 1.0 else 0.01) if up else 0.0
        else:
            factor = 1.5 if up else 1 / 1.5
            new = float(f"{value * factor:.2g}")
    new = min(max(new, low), high)
    if isinstance(value, int):
        new = int(new)
    return None if new == value else new


def rewrite(text: str, knob: Knob, value: int | float | bool | str) -> str:
    """``text`` with only the value of ``knob`` replaced (the rest of its line, comments included, untouched)."""
    lines = text.splitlines(keepends=True)
    if not 1 <= knob.line <= len(lines):
        raise KnobError(f"{knob.name}: line {knob.line} out of range")
    line = lines[knob.line - 1]
    raw = line.encode("utf-8")  # ast columns are UTF-8 byte offsets
    new_raw = raw[:knob.col] + format_value(value).encode("utf-8") + raw[knob.end_col:]
    lines[knob.line - 1] = new_raw.decode("utf-8")
    return "".join(lines)


def describe(knob: Knob, value: int | float | bool | str) -> str:
    """The one-line description of a one-knob change: ``LR 4e-3 -> 6e-3``."""
    return f"{knob.name} {format_value(knob.value)} -> {format_value(value)}"


_CHANGE = re.compile(r"^([A-Z][A-Z0-9_]*) (\S+) -> (\S+)")


def parse_change(description: str) -> tuple[str, Direction] | None:
    """The (knob, direction) of a description written by :func:`describe`, or None for anything else."""
    match = _CHANGE.match(description.strip())
    if match is None:
        return None
    name, old, new = match.groups()
    try:
        a, b = ast.literal_eval(old), ast.literal_eval(new)
    except (ValueError, SyntaxError):
        return None
    if isinstance(a, bool) or isinstance(b, bool):
        return (name, "flip")
    if isinstance(a, str):
        return (name, "next")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a != b:
        return (name, "up" if b > a else "down")
    return None
