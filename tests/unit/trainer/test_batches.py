"""The batch server: batches through a pipe, counted outside, stopped by the budget, the same for the same seed."""

from __future__ import annotations

import os
from pathlib import Path

from trainer.batches import BATCH, REFUSED, REQUEST, SPENT, BatchServer


def _ask(server: BatchServer, batch: int, context: int) -> bytes:
    request_fd, reply_fd = server.child_fds()
    os.write(request_fd, REQUEST.pack(batch, context))
    status = os.read(reply_fd, 1)
    if status != BATCH:
        return status
    want, got = batch * (context + 1), b""
    while len(got) < want:
        got += os.read(reply_fd, want - len(got))
    return status + got


def _serve(path: Path, seed: int, max_tokens: int) -> BatchServer:
    server = BatchServer(path, seed, lambda _steps, tokens, nxt: tokens + nxt > max_tokens)
    server.start()
    return server


def test_batches_are_windows_of_the_split_counted_here_and_stop_at_the_budget(tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    (tmp_path / "train.bin").write_bytes(data)
    server = _serve(tmp_path / "train.bin", 7, max_tokens=3 * 4 * 16)
    replies = [_ask(server, 4, 16) for _ in range(5)]
    count = server.close()
    assert [r[:1] for r in replies] == [BATCH] * 3 + [SPENT] * 2
    for reply in replies[:3]:
        rows = [reply[1 + i * 17:1 + (i + 1) * 17] for i in range(4)]
        assert all(row in data for row in rows)  # consecutive bytes of the training split
    assert (count.steps, count.tokens, count.spent, count.refused) == (3, 192, True, "")


def test_same_seed_same_batches_other_seed_other_batches(tmp_path: Path) -> None:
    (tmp_path / "train.bin").write_bytes(os.urandom(1 << 16))
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        server = _serve(tmp_path / "train.bin", seed, max_tokens=10**6)
        runs[name] = [_ask(server, 8, 32) for _ in range(3)]
        server.close()
    assert runs["a"] == runs["b"] and runs["a"] != runs["c"]


def test_a_malformed_request_is_refused_and_ends_the_serving(tmp_path: Path) -> None:
    (tmp_path / "train.bin").write_bytes(b"x" * 1000)
    server = _serve(tmp_path / "train.bin", 0, max_tokens=10**9)
    assert _ask(server, 1, 5000) == REFUSED  # a context longer than the split
    count = server.close()
    assert count.steps == 0 and "refused" in count.refused
