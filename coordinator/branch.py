"""Branches of train.py: a file with its knob values blanked out. Files that differ only in knob values are points of
one study (``coordinator.study``); a code change starts a new branch. No Optuna here (the loop imports this module).

``branch_key`` and ``knob_values`` parse a text once (cached); ``apply_values`` rewrites knob values; ``describe_values``
is the one line of a multi-knob change; ``trial_texts`` turns comparable results and live claims into the plain
``ScoredText`` records an agent that learns from trials reads.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Mapping, Sequence

from coordinator.errors import KnobError
from coordinator.knobs import format_value, read_knobs, rewrite
from coordinator.records import ScoredText
from coordinator.space import Value

__all__ = ["branch_key", "knob_values", "apply_values", "describe_values", "trial_texts", "MAX_TRIALS"]

MAX_TRIALS = 400          # newest trials an agent is given (TPE's cost grows with them)


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[str, tuple[tuple[str, Value], ...]] | None:
    try:
        knobs = read_knobs(text)
    except (KnobError, RecursionError, MemoryError):  # a peer's text is hostile input: too deep to parse is no branch
        return None
    raw = text.splitlines(keepends=True)
    for knob in sorted(knobs, key=lambda k: (k.line, -k.col)):
        line = raw[knob.line - 1].encode("utf-8")
        raw[knob.line - 1] = (line[:knob.col] + b"\x00" + line[knob.end_col:]).decode("utf-8", "replace")
    key = hashlib.sha256("".join(raw).encode("utf-8")).hexdigest()[:16]
    return key, tuple((k.name, k.value) for k in knobs)


def branch_key(text: str) -> str | None:
    """The hash of ``text`` with every knob value blanked out; None for a file that does not parse."""
    parsed = _parsed(text)
    return None if parsed is None else parsed[0]


def knob_values(text: str) -> dict[str, Value]:
    parsed = _parsed(text)
    return {} if parsed is None else dict(parsed[1])


def apply_values(text: str, values: Mapping[str, Value]) -> str:
    """``text`` with the named knobs set to ``values`` (each rewritten on its own line)."""
    for knob in read_knobs(text):
        if knob.name in values and values[knob.name] != knob.value:
            text = rewrite(text, knob, values[knob.name])
    return text


def describe_values(base: Mapping[str, Value], values: Mapping[str, Value], limit: int = 230) -> str:
    """``A 1 -> 2; B 3 -> 4`` for the knobs that differ from ``base`` (``+N more`` beyond ``limit`` characters)."""
    parts = [f"{k} {format_value(base[k])} -> {format_value(v)}" for k, v in values.items()
             if k in base and base[k] != v]
    out: list[str] = []
    for i, part in enumerate(parts):
        if len("; ".join(out + [part])) > limit - 12:
            out.append(f"+{len(parts) - i} more")
            break
        out.append(part)
    return "; ".join(out) or "no knob changed"


def trial_texts(results: Sequence[Any], pending: Sequence[str], text_of: Any, me: bytes,
                limit: int = MAX_TRIALS) -> list[ScoredText]:
    """The trials an agent sees: the newest ``limit`` comparable ``results`` (oldest first) whose train.py
    ``text_of(blob)`` knows, then the ``pending`` (claimed, not yet scored) blobs whose text it knows."""
    out: list[ScoredText] = []
    scored: set[str] = set()
    for r in list(results)[-limit:]:
        scored.add(r.blob)
        text = text_of(r.blob)
        if text is not None:
            out.append(ScoredText(text, float(r.metric), str(r.status), r.author == me))
    for blob in pending:
        if blob in scored:
            continue
        text = text_of(blob)
        if text is not None:
            out.append(ScoredText(text, 0.0, "pending"))
    return out
