"""Task data as a :class:`~trainer.data.DataSet` and its prepared split files.

:func:`prepare_task` writes, once per (hash, kind)::

    <cache_dir>/data/<data_hash>.<kind>/train/train.jsonl   the training rows (read by the batch server, outside
                                                            every sandbox: the training sandbox gets batches only)
    <cache_dir>/data/<data_hash>.<kind>/val/val.jsonl       the val rows (read by the scorer only)
    <cache_dir>/data/<data_hash>.<kind>/meta.json           kind, row counts, the label names (classify)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from trainer.data import DataSet, load_dataset
from trainer.errors import DataError, TaskError
from trainer.tasks.formats import MAX_TASK_BYTES, canonical, check_split, parse_rows, split_rows
from trainer.tasks.spec import KINDS, TaskKind

__all__ = ["load_task_data", "task_dataset", "prepare_task", "task_meta"]


def task_dataset(kind: TaskKind, data: bytes, name: str = "data") -> DataSet:
    """``data`` checked as ``kind``'s format (``TaskError`` naming the line and the fix) and wrapped; lm and custom:
    a text corpus as :meth:`DataSet.from_bytes` checks it."""
    if kind not in KINDS:
        raise TaskError(f"unknown task kind {kind!r}: choose one of {', '.join(KINDS)}")
    if kind in ("lm", "custom"):
        try:
            base = DataSet.from_bytes(name, data)
        except DataError as exc:
            raise TaskError(str(exc)) from exc
        return DataSet(base.name, base.data_hash, base.corpus, task=kind)
    rows = parse_rows(kind, data, name)
    train, val = split_rows(kind, rows)
    check_split(kind, train, val, name)
    return DataSet(name=name, data_hash=hashlib.sha256(data).hexdigest(), corpus=data, task=kind)


def load_task_data(kind: TaskKind, path: Path | str) -> DataSet:
    """A task's data file: classify/rank JSONL (bounded, validated line by line); lm/custom: :func:`load_dataset`."""
    path = Path(path)
    if kind in ("lm", "custom"):
        try:
            base = load_dataset(path)
        except DataError as exc:
            raise TaskError(str(exc)) from exc
        return DataSet(base.name, base.data_hash, base.corpus, task=kind)
    try:
        if not path.is_file():
            raise TaskError(f"no such data file: {path} (a {kind} task takes one .jsonl file)")
        if path.stat().st_size > MAX_TASK_BYTES:
            raise TaskError(f"{path} is {path.stat().st_size} bytes; the limit for {kind} data is {MAX_TASK_BYTES}")
        with path.open("rb") as handle:
            data = handle.read(MAX_TASK_BYTES + 1)
    except OSError as exc:
        raise TaskError(f"cannot read {path}: {exc}") from exc
    return task_dataset(kind, data, path.name)


def task_meta(folder: Path) -> dict[str, Any]:
    """The meta.json of a prepared task folder."""
    meta: dict[str, Any] = json.loads((Path(folder) / "meta.json").read_text(encoding="utf-8"))
    return meta


def prepare_task(dataset: DataSet, cache_dir: Path) -> Path:
    """Write the split files of a classify/rank DataSet once (atomically) and return their folder."""
    kind = dataset.task
    target = Path(cache_dir) / "data" / f"{dataset.data_hash}.{kind}"
    if (target / "meta.json").is_file():
        return target
    rows = parse_rows(kind, dataset.corpus, dataset.name)
    train, val = split_rows(kind, rows)
    labels = check_split(kind, train, val, dataset.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".prep-", dir=target.parent))
    try:
        (tmp / "train").mkdir()
        (tmp / "val").mkdir()
        (tmp / "train" / "train.jsonl").write_text("".join(canonical(r) + "\n" for r in train), encoding="utf-8")
        (tmp / "val" / "val.jsonl").write_text("".join(canonical(r) + "\n" for r in val), encoding="utf-8")
        meta = {"name": dataset.name, "data_hash": dataset.data_hash, "kind": kind, "labels": list(labels),
                "train_rows": len(train), "val_rows": len(val)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
