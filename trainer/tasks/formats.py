"""The data formats of the classify and rank tasks: JSON Lines, validated line by line, with bounded sizes.

- classify: ``{"text": str, "label": str}`` per line;
- rank: ``{"query": str, "candidates": [str, ...], "relevant": [int, ...]}`` per line (indexes into candidates).

Every line is strict UTF-8, one JSON object with exactly these keys (no duplicate keys, no NaN), within the limits
below; blank lines are skipped. Each bad input is a :class:`~trainer.errors.TaskError` naming the line and the fix.
The split (:func:`split_rows`) is deterministic and order-free: a row is in the val split when the sha256 of its
canonical JSON falls in the first :data:`VAL_PERCENT` percent (equal rows land on the same side), up to
:data:`MAX_VAL_ROWS` val rows in file order (the rest train).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Union

from trainer.errors import TaskError

__all__ = ["ClassifyRow", "RankRow", "Row", "parse_rows", "split_rows", "canonical", "check_split",
           "MAX_TASK_BYTES", "MAX_LINE_BYTES", "MAX_ROWS", "MAX_TEXT_BYTES", "MAX_LABEL_CHARS", "MAX_LABELS",
           "MAX_CANDIDATES", "VAL_PERCENT", "MAX_VAL_ROWS", "MIN_TRAIN_ROWS", "MIN_VAL_ROWS"]

MAX_TASK_BYTES = 64 << 20
MAX_LINE_BYTES = 256 << 10
MAX_ROWS = 200_000
MAX_TEXT_BYTES = 16 << 10  # a text, a query or a candidate (the model sees the first 256 / 128 bytes)
MAX_LABEL_CHARS = 64
MAX_LABELS = 256
MAX_CANDIDATES = 100
VAL_PERCENT = 20
MAX_VAL_ROWS = {"classify": 2000, "rank": 500}
MIN_TRAIN_ROWS = 10
MIN_VAL_ROWS = 5


@dataclass(frozen=True)
class ClassifyRow:
    text: str
    label: str


@dataclass(frozen=True)
class RankRow:
    query: str
    candidates: tuple[str, ...]
    relevant: tuple[int, ...]


Row = Union[ClassifyRow, RankRow]

_EXAMPLE = {"classify": '{"text": "...", "label": "..."}',
            "rank": '{"query": "...", "candidates": ["...", "..."], "relevant": [0]}'}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _text(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str):
        raise TaskError(f"{where}: {what} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise TaskError(f"{where}: {what} is empty; give it some text or drop the line")
    if "\x00" in value:
        raise TaskError(f"{where}: {what} contains a NUL character (\\u0000); remove it")
    if len(value.encode("utf-8", errors="surrogatepass")) > MAX_TEXT_BYTES:
        raise TaskError(f"{where}: {what} is over {MAX_TEXT_BYTES} bytes; cut it (the model sees the first few "
                        "hundred bytes)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TaskError(f"{where}: {what} holds a lone surrogate escape; remove it") from exc
    return value


def _row(kind: str, record: Any, where: str) -> Row:
    keys = {"classify": {"text", "label"}, "rank": {"query", "candidates", "relevant"}}[kind]
    if not isinstance(record, dict):
        raise TaskError(f"{where}: a line must be one JSON object like {_EXAMPLE[kind]}")
    if set(record) != keys:
        missing, extra = sorted(keys - set(record)), sorted(set(record) - keys)
        fix = (f"missing {', '.join(missing)}" if missing else "") + ("; " if missing and extra else "") + \
            (f"unknown key {', '.join(repr(k[:40]) for k in extra)}" if extra else "")
        raise TaskError(f"{where}: {fix}; a {kind} line is {_EXAMPLE[kind]}")
    if kind == "classify":
        label = _text(record["label"], "label", where)
        if len(label) > MAX_LABEL_CHARS:
            raise TaskError(f"{where}: label is over {MAX_LABEL_CHARS} characters; use a short class name")
        return ClassifyRow(_text(record["text"], "text", where), label)
    candidates = record["candidates"]
    if not isinstance(candidates, list) or not 2 <= len(candidates) <= MAX_CANDIDATES:
        raise TaskError(f"{where}: candidates must be a list of 2 to {MAX_CANDIDATES} strings")
    relevant = record["relevant"]
    if not isinstance(relevant, list) or not relevant:
        raise TaskError(f"{where}: this ranking row has no relevant candidate; relevant must list the index (from 0) "
                        "of at least one candidate")
    for index in relevant:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(candidates):
            raise TaskError(f"{where}: relevant index {index!r} is not a candidate index (0 to "
                            f"{len(candidates) - 1})")
    if len(set(relevant)) != len(relevant):
        raise TaskError(f"{where}: relevant lists an index twice")
    if len(relevant) == len(candidates):
        raise TaskError(f"{where}: every candidate is relevant, so the row ranks nothing; add irrelevant candidates")
    return RankRow(_text(record["query"], "query", where),
                   tuple(_text(c, f"candidate {i}", where) for i, c in enumerate(candidates)),
                   tuple(sorted(relevant)))


def parse_rows(kind: str, data: bytes, name: str = "data") -> list[Row]:
    """Every row of a classify or rank JSONL file, checked; ``TaskError`` naming the first bad line."""
    if kind not in ("classify", "rank"):
        raise TaskError(f"{kind} data is not JSON Lines")
    if len(data) > MAX_TASK_BYTES:
        raise TaskError(f"{name} is {len(data)} bytes; the limit for {kind} data is {MAX_TASK_BYTES}")
    rows: list[Row] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        where = f"{name} line {number}"
        if len(raw) > MAX_LINE_BYTES:
            raise TaskError(f"{where} is {len(raw)} bytes; a line may hold {MAX_LINE_BYTES}: shorten its texts")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TaskError(f"{where} is not UTF-8 (byte {exc.start + 1} of the line); save the file as UTF-8") from exc
        if not line.strip():
            continue
        if line.startswith("\ufeff"):
            raise TaskError(f"{where} starts with a byte-order mark; save the file as UTF-8 without BOM")
        try:
            record = json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise TaskError(f"{where} does not parse as JSON ({str(exc)[:120]}); each line must be one object like "
                            f"{_EXAMPLE[kind]}") from exc
        rows.append(_row(kind, record, where))
        if len(rows) > MAX_ROWS:
            raise TaskError(f"{name} has more than {MAX_ROWS} rows; keep at most {MAX_ROWS}")
    if not rows:
        raise TaskError(f"{name} holds no rows; each line must be one object like {_EXAMPLE[kind]}")
    return rows


def canonical(row: Row) -> str:
    """One row as canonical JSON (sorted keys, UTF-8 kept): the line written to the prepared split files."""
    if isinstance(row, ClassifyRow):
        record: dict[str, Any] = {"text": row.text, "label": row.label}
    else:
        record = {"query": row.query, "candidates": list(row.candidates), "relevant": list(row.relevant)}
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _in_val(row: Row) -> bool:
    digest = hashlib.sha256(b"swarm-val\n" + canonical(row).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < VAL_PERCENT


def split_rows(kind: str, rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """(train rows, val rows), deterministic: see the module's docstring."""
    train: list[Row] = []
    val: list[Row] = []
    cap = MAX_VAL_ROWS[kind]
    for row in rows:
        (val if _in_val(row) and len(val) < cap else train).append(row)
    return train, val


def check_split(kind: str, train: list[Row], val: list[Row], name: str = "data") -> tuple[str, ...]:
    """The sorted label names (classify; () for rank) once the split is usable; ``TaskError`` saying why not."""
    if len(train) < MIN_TRAIN_ROWS or len(val) < MIN_VAL_ROWS:
        raise TaskError(f"{name}: {len(train)} training and {len(val)} val rows after the split ({VAL_PERCENT}% of "
                        f"rows go to val); at least {MIN_TRAIN_ROWS} and {MIN_VAL_ROWS} are needed: add rows")
    if kind != "classify":
        return ()
    in_train = {r.label for r in train if isinstance(r, ClassifyRow)}
    in_val = {r.label for r in val if isinstance(r, ClassifyRow)}
    labels = tuple(sorted(in_train | in_val))
    if len(labels) < 2:
        raise TaskError(f"{name}: only one label ({labels[0]!r}); a classify task needs at least 2")
    if len(labels) > MAX_LABELS:
        raise TaskError(f"{name}: {len(labels)} labels; at most {MAX_LABELS}")
    for label in labels:
        if label not in in_val:
            n = sum(1 for r in train if isinstance(r, ClassifyRow) and r.label == label)
            raise TaskError(f"{name}: label {label!r} is missing from the val split ({n} rows, none drawn for val): "
                            f"add rows of it (about 1 in {100 // VAL_PERCENT} goes to val) or drop the label")
        if label not in in_train:
            raise TaskError(f"{name}: label {label!r} is an empty class in the training split (all its rows were "
                            "drawn for val): add rows of it or drop the label")
    return labels
