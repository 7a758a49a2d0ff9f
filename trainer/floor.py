"""The sanity floor: a val_bpb below it is refused as a crash (as autoresearch@home does), whatever produced it.

The default comes from the corpus's own entropy estimate: xz's bits per byte on the first :data:`SAMPLE_BYTES` of
the training split, times :data:`FLOOR_FACTOR`. On the embedded Shakespeare that is about 0.7 bits per byte; honest
models trained for minutes score above 2, the best large models on such text about 1.2, and every cheat the
hostile tests record scored 0.01-0.4. A swarm's seeder can set another floor (``run_experiment(floor_bpb=...)``).
"""

from __future__ import annotations

import functools
import lzma

from trainer.data import DataSet, split_sizes

__all__ = ["default_floor", "entropy_estimate", "FLOOR_FACTOR", "SAMPLE_BYTES"]

FLOOR_FACTOR = 0.25
SAMPLE_BYTES = 256 * 1024


def entropy_estimate(data: bytes) -> float:
    """Bits per byte that xz (preset 6) needs for ``data``: an upper bound on its entropy rate."""
    if not data:
        return 8.0
    return 8.0 * len(lzma.compress(data, preset=6)) / len(data)


@functools.lru_cache(maxsize=16)
def _floor(data_hash: str, sample: bytes) -> float:
    return round(FLOOR_FACTOR * entropy_estimate(sample), 4)


def default_floor(dataset: DataSet) -> float:
    """The floor of ``dataset``'s task (cached per data hash; about 0.1 s to compute)."""
    n_train, _, _ = split_sizes(len(dataset.corpus))
    return _floor(dataset.data_hash, dataset.corpus[: min(n_train, SAMPLE_BYTES)])
