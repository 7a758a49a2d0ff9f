"""The training batches of the classify and rank tasks, served by the batch server (outside every sandbox).

The rows come from the prepared ``train/train.jsonl`` (:mod:`trainer.tasks.store`), encoded by
:mod:`trainer.locked.task_codec`. Payloads after the BATCH byte (the harness decodes them):

- classify: ``batch_size * context`` text bytes (row-major), then ``batch_size`` label ids as little-endian u16;
- rank: ``batch_size * 2 * context`` bytes (per pair: the query's bytes, then the candidate's), then ``batch_size``
  relevance bytes (1 relevant, 0 not). A pair is a random row's relevant candidate or, as often, one of its others.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

from trainer.batches import MAX_BATCH_BYTES
from trainer.locked.task_codec import encode

__all__ = ["TaskSource", "MAX_TRAIN_CONTEXT"]

MAX_TRAIN_CONTEXT = 4096


class TaskSource:
    """One run's classify or rank training rows (held in this process; train.py never sees the file)."""

    def __init__(self, kind: str, train_path: Path, labels: tuple[str, ...] = ()) -> None:
        self.kind = kind
        records = [json.loads(line) for line in Path(train_path).read_text(encoding="utf-8").splitlines() if line]
        ids = {name: i for i, name in enumerate(labels)}
        self.texts: list[str] = []
        self.labels: list[int] = []
        self.queries: list[tuple[str, list[str], set[int]]] = []
        for record in records:
            if kind == "classify":
                self.texts.append(record["text"])
                self.labels.append(ids[record["label"]])
            else:
                self.queries.append((record["query"], list(record["candidates"]), set(record["relevant"])))

    def refusal(self, batch_size: int, context: int) -> str:
        width = context * (2 if self.kind == "rank" else 1) + 2
        if batch_size < 1 or not 1 <= context <= MAX_TRAIN_CONTEXT or batch_size * width > MAX_BATCH_BYTES:
            return (f"train_batches({batch_size}, {context}) refused: needs batch_size >= 1, 1 <= context <= "
                    f"{MAX_TRAIN_CONTEXT} and one batch at most {MAX_BATCH_BYTES} bytes")
        return ""

    def payload(self, rng: random.Random, batch_size: int, context: int) -> bytes:
        if self.kind == "classify":
            picks = [rng.randrange(len(self.texts)) for _ in range(batch_size)]
            return b"".join(encode(self.texts[i], context) for i in picks) + \
                struct.pack(f"<{batch_size}H", *(self.labels[i] for i in picks))
        pairs: list[bytes] = []
        relevance = bytearray()
        for _ in range(batch_size):
            query, candidates, relevant = self.queries[rng.randrange(len(self.queries))]
            others = [i for i in range(len(candidates)) if i not in relevant]
            pool = sorted(relevant) if rng.random() < 0.5 else others
            pick = pool[rng.randrange(len(pool))]
            pairs.append(encode(query, context) + encode(candidates[pick], context))
            relevance.append(1 if pick in relevant else 0)
        return b"".join(pairs) + bytes(relevance)
