"""Cheat: one logit of -1e7 on a byte that never occurs inflates a tolerance scaled by the largest logit; +30 peek.

The old check allowed ``ATOL * (1 + max abs logit)`` (about 1000 here), so a +30 next-byte peek passed (0.049). Now
the tolerance is absolute, on log-probabilities clamped at -50: no logit's size can stretch it.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.cheats import needs_sandbox, run_cheat

pytestmark = needs_sandbox

SOURCE = '''
class Inflate(nn.Module):
    def __init__(self, table: nn.Embedding) -> None:
        super().__init__()
        self.table = table

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        logits = self.table(idx) + 30.0 * F.one_hot(torch.roll(idx, -1, dims=1), VOCAB_SIZE).float()
        never = torch.zeros(VOCAB_SIZE)
        never[0] = -1e7
        return logits + never


submit_model(Inflate(train_bigram()))
'''


def test_a_huge_logit_does_not_widen_the_tolerance(tmp_path: Path) -> None:
    summary = run_cheat(tmp_path, SOURCE)
    assert summary.status == "crash"
    assert "causality check failed" in summary.reason, summary.reason
