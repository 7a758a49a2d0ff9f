"""The baseline train.py of each task passes the gate and keeps UPPER_CASE knobs; the examples ship the same files;
the example data is deterministic and passes its own format's checks."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pytest

from trainer import baseline_train_py, check_train_py, default_train_py, task_dataset
from trainer.tasks.examples import build

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = {"shakespeare-genre": "classify", "next-line": "rank"}


@pytest.mark.parametrize("kind", ["classify", "rank"])
def test_each_baseline_passes_the_gate_and_has_commented_knobs(kind: str) -> None:
    source = check_train_py(baseline_train_py(kind))
    knobs = [node for node in ast.parse(source).body if isinstance(node, ast.Assign)
             and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()]
    assert len(knobs) >= 10
    lines = source.splitlines()
    assert all("#" in lines[k.lineno - 1] for k in knobs)
    assert baseline_train_py("lm") == baseline_train_py("custom") == default_train_py()


@pytest.mark.parametrize(("example", "kind"), EXAMPLES.items())
def test_each_example_ships_the_baseline_and_builds_the_same_valid_data(example: str, kind: str,
                                                                        tmp_path: Path) -> None:
    folder = ROOT / "examples" / example
    assert (folder / "train.py").read_text() == baseline_train_py(kind)
    assert "## The goal" in (folder / "program.md").read_text()
    build(example, tmp_path / "a.jsonl")
    build(example, tmp_path / "b.jsonl")
    data = (tmp_path / "a.jsonl").read_bytes()
    assert data == (tmp_path / "b.jsonl").read_bytes() and len(data) < 2 << 20
    dataset = task_dataset(kind, data, "data.jsonl")  # type: ignore[arg-type]
    assert dataset.data_hash == hashlib.sha256(data).hexdigest()
    assert b"by William Shakespeare" not in data and b"SONNETS" not in data
