"""The locked evaluator in its own process: a model that peeks at future tokens is rejected, an honest one scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer import Budget, builtin_dataset, run_experiment

pytestmark = pytest.mark.slow

TEMPLATE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from swarm_harness import VOCAB_SIZE, submit_model, train_batches


class Bigram(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(VOCAB_SIZE, VOCAB_SIZE)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        logits = self.table(idx)
        if PEEK:
            # cheat: put a big logit on the true next byte, read from the input itself
            logits = logits + 20.0 * F.one_hot(torch.roll(idx, -1, dims=1), VOCAB_SIZE).float()
        return logits


PEEK = {peek}
model = Bigram()
opt = torch.optim.Adam(model.parameters(), lr=0.1)
for x, y in train_batches(8, 64):
    loss = F.cross_entropy(model(x).reshape(-1, VOCAB_SIZE), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
submit_model(model)
'''


def run(tmp_path: Path, peek: bool):  # type: ignore[no-untyped-def]
    return run_experiment(TEMPLATE.format(peek=peek), builtin_dataset(), Budget.parse("32768-tokens"),
                          work_root=tmp_path / "runs", cache_dir=tmp_path / "cache", require_sandbox=False)


def test_future_peeking_model_is_rejected(tmp_path: Path) -> None:
    summary = run(tmp_path, peek=True)
    assert summary.status == "crash" and summary.val_bpb is None
    assert "causality check failed" in summary.reason


def test_honest_bigram_is_scored(tmp_path: Path) -> None:
    summary = run(tmp_path, peek=False)
    assert summary.status == "ok", summary.reason
    assert summary.val_bpb is not None and 3.0 < summary.val_bpb < 8.0
