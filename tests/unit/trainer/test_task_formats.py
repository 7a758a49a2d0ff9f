"""The classify and rank JSONL formats: each bad input a TaskError naming the line and the fix; the split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.tasks import TaskError, load_task_data, task_dataset
from trainer.tasks.formats import MAX_LINE_BYTES, ClassifyRow, parse_rows, split_rows
from trainer.tasks.store import task_meta


def _classify(n: int = 60, labels: tuple[str, ...] = ("a", "b", "c")) -> list[dict[str, object]]:
    return [{"text": f"text number {i} about {labels[i % len(labels)]}", "label": labels[i % len(labels)]}
            for i in range(n)]


def _rank(n: int = 40) -> list[dict[str, object]]:
    return [{"query": f"query {i}", "candidates": [f"c{i}-{j}" for j in range(5)], "relevant": [i % 5]}
            for i in range(n)]


def _jsonl(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _bad(kind: str, rows: list[dict[str, object]], line: int, raw: bytes) -> bytes:
    lines = _jsonl(rows).split(b"\n")
    lines[line - 1] = raw
    return b"\n".join(lines)


@pytest.mark.parametrize(("kind", "raw", "message"), [
    ("classify", b'{"text": "x", "label": ', "line 7 does not parse as JSON"),
    ("classify", b'{"text": "x", "label": "a", "text": "y"}', "line 7 does not parse as JSON .duplicate key 'text'"),
    ("classify", b'{"text": NaN, "label": "a"}', "line 7 does not parse as JSON .NaN is not JSON"),
    ("classify", b'{"text": "caf\xe9", "label": "a"}', "line 7 is not UTF-8 .byte 14"),
    ("classify", b'["x", "a"]', "line 7: a line must be one JSON object"),
    ("classify", b'{"text": "x"}', "line 7: missing label"),
    ("classify", b'{"text": "x", "label": "a", "score": 1}', "line 7: unknown key 'score'"),
    ("classify", b'{"text": "  ", "label": "a"}', "line 7: text is empty"),
    ("classify", b'{"text": "x", "label": 3}', "line 7: label must be a string, not int"),
    ("classify", b'{"text": "x\\u0000", "label": "a"}', "line 7: text contains a NUL"),
    ("classify", b'{"text": "x\\ud800", "label": "a"}', "line 7: text holds a lone surrogate"),
    ("classify", b'{"text": "x", "label": "' + b"l" * 65 + b'"}', "line 7: label is over 64 characters"),
    ("classify", b'{"text": "' + b"x" * (MAX_LINE_BYTES + 1) + b'", "label": "a"}', "line 7 is 262[0-9]+ bytes"),
    ("classify", b"[" * 100000, "line 7 does not parse as JSON"),
    ("rank", b'{"query": "q", "candidates": ["a", "b"], "relevant": []}', "line 7: this ranking row has no relevant"),
    ("rank", b'{"query": "q", "candidates": ["a", "b"], "relevant": [2]}', "line 7: relevant index 2 is not a cand"),
    ("rank", b'{"query": "q", "candidates": ["a", "b"], "relevant": [true]}', "line 7: relevant index True"),
    ("rank", b'{"query": "q", "candidates": ["a", "b"], "relevant": [0, 0]}', "line 7: relevant lists an index tw"),
    ("rank", b'{"query": "q", "candidates": ["a", "b"], "relevant": [0, 1]}', "line 7: every candidate is relevant"),
    ("rank", b'{"query": "q", "candidates": ["a"], "relevant": [0]}', "line 7: candidates must be a list of 2"),
    ("rank", b'{"query": "q", "candidates": ["a", 5], "relevant": [0]}', "line 7: candidate 1 must be a string"),
])
def test_each_bad_line_is_named_with_its_fix(kind: str, raw: bytes, message: str) -> None:
    rows = _classify() if kind == "classify" else _rank()
    with pytest.raises(TaskError, match=message):
        task_dataset(kind, _bad(kind, rows, 7, raw), "data.jsonl")  # type: ignore[arg-type]


def test_a_label_missing_from_the_val_split_and_an_empty_class_are_refused() -> None:
    rows = _classify()
    single = next(r for r in ({"text": f"lonely {i}", "label": "z"} for i in range(100))
                  if not split_rows("classify", [ClassifyRow(str(r["text"]), "z")])[1])
    with pytest.raises(TaskError, match="label 'z' is missing from the val split .1 rows, none drawn for val"):
        task_dataset("classify", _jsonl(rows + [single]))
    in_val = next(r for r in ({"text": f"lonely {i}", "label": "z"} for i in range(100))
                  if split_rows("classify", [ClassifyRow(str(r["text"]), "z")])[1])
    with pytest.raises(TaskError, match="label 'z' is an empty class in the training split"):
        task_dataset("classify", _jsonl(rows + [in_val]))
    with pytest.raises(TaskError, match="only one label"):
        task_dataset("classify", _jsonl(_classify(labels=("a",))))
    with pytest.raises(TaskError, match="at least 10 and 5 are needed"):
        task_dataset("classify", _jsonl(_classify(8)))
    with pytest.raises(TaskError, match="holds no rows"):
        task_dataset("rank", b"\n\n")


def test_the_split_is_deterministic_order_free_and_keeps_equal_rows_together(tmp_path: Path) -> None:
    rows = parse_rows("classify", _jsonl(_classify(200)))
    train, val = split_rows("classify", rows)
    assert 20 <= len(val) <= 60 and len(train) + len(val) == 200
    again_train, again_val = split_rows("classify", list(reversed(rows)))
    assert set(again_val) == set(val) and set(again_train) == set(train)
    twice = split_rows("classify", rows + rows)[1]
    assert set(twice) == set(val)  # a duplicate never lands on the other side
    path = tmp_path / "data.jsonl"
    path.write_bytes(_jsonl(_classify(200)))
    dataset = load_task_data("classify", path)
    folder = dataset.prepare(tmp_path / "cache")
    assert folder.name == f"{dataset.data_hash}.classify"
    assert task_meta(folder)["labels"] == ["a", "b", "c"]
    assert len((folder / "val" / "val.jsonl").read_text().splitlines()) == len(val)
    assert not any(line in (folder / "train" / "train.jsonl").read_text().splitlines()
                   for line in (folder / "val" / "val.jsonl").read_text().splitlines())


def test_a_file_that_is_too_large_or_missing_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="no such data file"):
        load_task_data("classify", tmp_path / "nope.jsonl")
    big = tmp_path / "big.jsonl"
    with big.open("wb") as handle:
        handle.truncate((64 << 20) + 1)
    with pytest.raises(TaskError, match="the limit for rank data is"):
        load_task_data("rank", big)
