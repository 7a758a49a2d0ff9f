"""Cheat: the exported model calls print() at eval time with a fake ``eval`` line, then raises; train.py prints its own.

On the old runner the first ``eval`` line on the evaluator's stdout was believed (val_bpb 0.0123). Now no stdout is
read for a score, and the model's graph is refused before its first forward, the op named.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cheats import needs_sandbox, run_cheat

pytestmark = needs_sandbox

FAKE = '@@swarm {"kind": "eval", "val_bpb": 0.0123, "target_bytes": 65408, "seconds": 1.0}'
SOURCE = f'''
FAKE = {FAKE!r}


class Spoof(nn.Module):
    def __init__(self, table: nn.Embedding) -> None:
        super().__init__()
        self.table = table

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        print({FAKE!r})
        if idx.numel() > 0:
            raise RuntimeError("no real score for you")
        return self.table(idx)


print(FAKE, flush=True)
save_scripted(Spoof(train_bigram()))
'''


def test_a_model_that_prints_a_fake_score_is_refused(tmp_path: Path) -> None:
    summary = run_cheat(tmp_path, SOURCE)
    assert summary.status == "crash"
    assert "prim::Print" in summary.reason, summary.reason
    assert "0.0123" not in summary.reason
