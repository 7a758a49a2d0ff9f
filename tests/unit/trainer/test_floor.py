"""The sanity floor: from the corpus's own xz entropy estimate, below every honest score, above every cheat's."""

from __future__ import annotations

import os

from trainer import DataSet, builtin_dataset
from trainer.floor import FLOOR_FACTOR, default_floor, entropy_estimate


def test_the_builtin_floor_sits_between_the_cheats_and_honest_scores() -> None:
    floor = default_floor(builtin_dataset())
    assert 0.5 < floor < 1.0  # cheats of issue 9 scored 0.01-0.39; honest runs score above 2


def test_the_floor_follows_the_corpus_entropy() -> None:
    text = DataSet.from_bytes("rep", b"abcd" * 8192)
    noisy = DataSet.from_bytes("noise", os.urandom(32768).hex().encode())
    assert default_floor(text) < 0.1 < 0.9 < default_floor(noisy) <= FLOOR_FACTOR * 8.5
    assert entropy_estimate(b"") == 8.0
