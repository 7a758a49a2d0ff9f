"""Corpora and their deterministic train/val split.

A :class:`DataSet` is a corpus of exact bytes pinned by its sha256 (``data_hash``). The split is by position: the
last :data:`VAL_FRACTION` of the bytes (at least :data:`EVAL_SLICE_BYTES`, at most half the corpus) is the validation
split, the rest is the training split. The evaluator scores a FIXED slice, the first :data:`EVAL_SLICE_BYTES` of the
validation split (or all of it when shorter), so scores are comparable between nodes of one swarm. Scores on
different slices (other data, other slice sizes) are never comparable.

:meth:`DataSet.prepare` writes, once per hash::

    <cache_dir>/data/<data_hash>/train/train.bin   the training split (bound read-only into the training sandbox)
    <cache_dir>/data/<data_hash>/val/val.bin       the evaluation slice (read by the scorer only; bound into no sandbox)
    <cache_dir>/data/<data_hash>/meta.json         sizes and hash
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from trainer.corpus import shakespeare_bytes
from trainer.errors import DataError

__all__ = [
    "DataSet", "builtin_dataset", "load_dataset", "split_sizes",
    "VAL_FRACTION", "EVAL_SLICE_BYTES", "MAX_CORPUS_BYTES", "MIN_CORPUS_BYTES",
]

log = logging.getLogger(__name__)

VAL_FRACTION = 0.05
EVAL_SLICE_BYTES = 64 * 1024
MAX_CORPUS_BYTES = 512 * 1024 * 1024
MIN_CORPUS_BYTES = 16 * 1024


def split_sizes(n: int) -> tuple[int, int, int]:
    """``(train bytes, val bytes, eval slice bytes)`` of a corpus of ``n`` bytes."""
    val = min(max(int(n * VAL_FRACTION), EVAL_SLICE_BYTES), n // 2)
    return n - val, val, min(val, EVAL_SLICE_BYTES)


@dataclass(frozen=True)
class DataSet:
    """A corpus of exact bytes: ``name`` for humans, ``data_hash`` (hex sha256 of the bytes) for machines."""

    name: str
    data_hash: str
    corpus: bytes = field(repr=False, compare=False)
    task: str = "lm"  # the task kind whose format the bytes passed (trainer.tasks.task_dataset)

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> DataSet:
        """Check size and UTF-8, hash, and wrap (``DataError`` on a corpus that cannot be used)."""
        if len(data) > MAX_CORPUS_BYTES:
            raise DataError(f"corpus {name!r} is {len(data)} bytes; the limit is {MAX_CORPUS_BYTES}")
        if len(data) < MIN_CORPUS_BYTES:
            raise DataError(f"corpus {name!r} is {len(data)} bytes; at least {MIN_CORPUS_BYTES} are needed")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"corpus {name!r} is not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
        return cls(name=name, data_hash=hashlib.sha256(data).hexdigest(), corpus=data)

    def corpus_bytes(self) -> bytes:
        """The exact bytes the swarm trains and evaluates on."""
        return self.corpus

    def prepare(self, cache_dir: Path) -> Path:
        """Write the split files under ``cache_dir/data/<data_hash>`` once (atomically) and return that folder.

        classify and rank data: :func:`trainer.tasks.store.prepare_task` (``data/<data_hash>.<kind>``)."""
        if self.task in ("classify", "rank"):
            from trainer.tasks.store import prepare_task

            return prepare_task(self, Path(cache_dir))
        target = Path(cache_dir) / "data" / self.data_hash
        if _prepared(target, len(self.corpus)):
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        n_train, n_val, n_eval = split_sizes(len(self.corpus))
        tmp = Path(tempfile.mkdtemp(prefix=".prep-", dir=target.parent))
        try:
            (tmp / "train").mkdir()
            (tmp / "val").mkdir()
            (tmp / "train" / "train.bin").write_bytes(self.corpus[:n_train])
            (tmp / "val" / "val.bin").write_bytes(self.corpus[n_train:n_train + n_eval])
            meta = {"name": self.name, "data_hash": self.data_hash, "corpus_bytes": len(self.corpus),
                    "train_bytes": n_train, "val_bytes": n_val, "eval_bytes": n_eval}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            try:
                os.rename(tmp, target)
            except OSError:
                if not _prepared(target, len(self.corpus)):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("prepared %s (%s) in %s", self.name, self.data_hash[:12], target)
        return target


def _prepared(target: Path, n: int) -> bool:
    try:
        meta = json.loads((target / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(meta.get("corpus_bytes") == n
            and (target / "train" / "train.bin").stat().st_size == meta["train_bytes"]
            and (target / "val" / "val.bin").stat().st_size == meta["eval_bytes"])


def builtin_dataset() -> DataSet:
    """The embedded complete works of Shakespeare (offline, pinned by hash)."""
    return DataSet.from_bytes("shakespeare", shakespeare_bytes())


def load_dataset(path: Path | str) -> DataSet:
    """A user corpus: one UTF-8 text file, or a folder whose ``*.txt`` files are joined in sorted name order."""
    path = Path(path)
    if path.is_file():
        return DataSet.from_bytes(path.stem, _read_bounded(path, MAX_CORPUS_BYTES))
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise DataError(f"no .txt files in {path}")
        parts: list[bytes] = []
        total = 0
        for file in files:
            part = _read_bounded(file, MAX_CORPUS_BYTES - total)
            if part and not part.endswith(b"\n"):
                part += b"\n"
            parts.append(part)
            total += len(part)
        return DataSet.from_bytes(path.name, b"".join(parts))
    raise DataError(f"no such data file or folder: {path}")


def _read_bounded(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise DataError(f"{path} is {size} bytes; the corpus limit is {MAX_CORPUS_BYTES}")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if len(data) > limit:
        raise DataError(f"{path} grew past the corpus limit of {MAX_CORPUS_BYTES} bytes")
    return data
