from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from trainer import DataError, builtin_dataset, load_dataset
from trainer.data import EVAL_SLICE_BYTES, MIN_CORPUS_BYTES, DataSet, split_sizes


def test_builtin_dataset_is_pinned_shakespeare() -> None:
    data = builtin_dataset()
    assert data.name == "shakespeare"
    assert data.data_hash == hashlib.sha256(data.corpus_bytes()).hexdigest()
    assert data.data_hash == "e94e05538b0baa1237494f1eaa7d12639e573443e22890ae1feef9b94fca5d9e"
    assert b"gutenberg" not in data.corpus_bytes().lower()
    assert b"\r" not in data.corpus_bytes()


def test_split_sizes() -> None:
    assert split_sizes(5_053_943) == (4_801_246, 252_697, EVAL_SLICE_BYTES)
    assert split_sizes(100_000) == (50_000, 50_000, 50_000)  # small corpus: val capped at half
    assert split_sizes(400_000) == (400_000 - EVAL_SLICE_BYTES, EVAL_SLICE_BYTES, EVAL_SLICE_BYTES)


def test_prepare_writes_split_once_and_separately(tmp_path: Path) -> None:
    corpus = bytes(range(32, 127)) * 2000
    data = DataSet.from_bytes("t", corpus)
    folder = data.prepare(tmp_path)
    assert folder == tmp_path / "data" / data.data_hash
    n_train, _, n_eval = split_sizes(len(corpus))
    assert (folder / "train" / "train.bin").read_bytes() == corpus[:n_train]
    assert (folder / "val" / "val.bin").read_bytes() == corpus[n_train:n_train + n_eval]
    mtime = (folder / "meta.json").stat().st_mtime_ns
    assert data.prepare(tmp_path) == folder
    assert (folder / "meta.json").stat().st_mtime_ns == mtime


def test_load_file_and_folder(tmp_path: Path) -> None:
    text = "To be, or not to be: that is the question.\n" * 1000
    (tmp_path / "one.txt").write_text(text)
    assert load_dataset(tmp_path / "one.txt").corpus_bytes() == text.encode()
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "b.txt").write_text("second" * 3000)
    (folder / "a.txt").write_text("first" * 3000)
    (folder / "skip.bin").write_bytes(b"\xff" * 10)
    data = load_dataset(folder)
    assert data.name == "many"
    assert data.corpus_bytes() == ("first" * 3000 + "\n" + "second" * 3000 + "\n").encode()


@pytest.mark.parametrize(("content", "why"), [
    (b"\xff\xfe" * MIN_CORPUS_BYTES, "not UTF-8"),
    (b"short", "at least"),
])
def test_bad_corpus_raises_data_error(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=why):
        load_dataset(path)


def test_missing_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DataError, match="no .txt"):
        load_dataset(tmp_path)


def test_too_large_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trainer.data as data_module

    monkeypatch.setattr(data_module, "MAX_CORPUS_BYTES", MIN_CORPUS_BYTES * 2)
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * (MIN_CORPUS_BYTES * 3))
    with pytest.raises(DataError, match="limit"):
        load_dataset(path)
