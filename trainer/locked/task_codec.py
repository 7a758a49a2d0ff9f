"""task_codec: how classify and rank rows become int64 byte tensors (shared by the batch server, the harness and
the scorer, so that a model sees the same encoding in training and in evaluation). Standard library only.

- a text: its UTF-8 bytes, cut at ``length``, right-padded with byte 0 (:data:`PAD`; task data holds no NUL);
- classify: one row ``[length]`` per text; the label id is the index of the label in the sorted label names;
- rank: one row ``[2, length]`` per (query, candidate) pair: the query's bytes, then the candidate's.
"""

from __future__ import annotations

__all__ = ["PAD", "CLASSIFY_CONTEXT", "RANK_CONTEXT", "encode"]

PAD = 0
CLASSIFY_CONTEXT = 256  # bytes of a text the evaluator feeds (the model gets int64 [B, 256])
RANK_CONTEXT = 128  # bytes of a query and of a candidate the evaluator feeds (the model gets int64 [B, 2, 128])


def encode(text: str, length: int) -> bytes:
    """``text``'s UTF-8 bytes cut or padded with :data:`PAD` to exactly ``length`` bytes."""
    raw = text.encode("utf-8")[:length]
    return raw + bytes(length - len(raw))
