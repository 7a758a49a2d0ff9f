"""The classify and rank batches the batch server sends: the encoding the harness decodes, labels from the rows."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

from trainer.task_batches import TaskSource


def test_classify_and_rank_payloads(tmp_path: Path) -> None:
    rows = [{"text": "héllo wörld", "label": "b"}, {"text": "x" * 50, "label": "a"}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = TaskSource("classify", tmp_path / "c.jsonl", ("a", "b"))
    payload = source.payload(random.Random(0), 6, 16)
    assert len(payload) == 6 * 16 + 2 * 6
    texts = [payload[i * 16:(i + 1) * 16] for i in range(6)]
    labels = struct.unpack("<6H", payload[96:])
    for text, label in zip(texts, labels):
        assert (text, label) in (("héllo wörld".encode().ljust(16, b"\0"), 1), (b"x" * 16, 0))
    assert "refused" in source.refusal(0, 16) and source.refusal(4, 16) == ""

    ranked = [{"query": "q", "candidates": ["yes", "no", "nope"], "relevant": [0]}]
    (tmp_path / "r.jsonl").write_text(json.dumps(ranked[0]) + "\n")
    payload = TaskSource("rank", tmp_path / "r.jsonl").payload(random.Random(1), 40, 8)
    assert len(payload) == 40 * 2 * 8 + 40
    pairs = [payload[i * 16:(i + 1) * 16] for i in range(40)]
    relevance = payload[640:]
    assert all(p[:8] == b"q".ljust(8, b"\0") for p in pairs)
    assert all((p[8:] == b"yes".ljust(8, b"\0")) == (r == 1) for p, r in zip(pairs, relevance))
    assert 10 < sum(relevance) < 30  # about half the pairs are relevant
