"""Cheat: a peek at only 2 of the 127 positions, which 4 random probes on the first batch caught 6% of the time.

Now every batch is probed on every row, each row at its own random cut, all positions up to the cut compared: a peek
at position p is caught by any row whose cut is p, so 2 peeked positions survive 16 batches of 32 rows with
probability (125/127)^512, about 3e-4.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.cheats import needs_sandbox, run_cheat

pytestmark = needs_sandbox

SOURCE = '''
class Sparse(nn.Module):
    def __init__(self, table: nn.Embedding) -> None:
        super().__init__()
        self.table = table

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        peek = F.one_hot(torch.roll(idx, -1, dims=1), VOCAB_SIZE).float()
        where = torch.zeros(1, idx.shape[1], 1)
        where[0, 40] = 1.0
        where[0, 90] = 1.0
        return self.table(idx) + 30.0 * peek * where


submit_model(Sparse(train_bigram()))
'''


def test_a_peek_at_two_positions_is_caught(tmp_path: Path) -> None:
    summary = run_cheat(tmp_path, SOURCE)
    assert summary.status == "crash"
    assert "causality check failed" in summary.reason, summary.reason
    assert "position 40" in summary.reason or "position 90" in summary.reason
