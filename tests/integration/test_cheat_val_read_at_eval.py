"""Cheat: the model reads the evaluator's val.bin with ``aten::from_file`` and answers from it, using only past bytes.

The window is found from its first 16 bytes, then every later position gets +30 on the true next byte: causal, so
the old probes passed it (val_bpb 0.393). Now ``from_file`` is refused by the op allowlist, and the model server that
runs the forward has no val file at all.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.cheats import needs_sandbox, run_cheat

pytestmark = needs_sandbox

SOURCE = '''
class FromFile(nn.Module):
    def __init__(self, table: nn.Embedding) -> None:
        super().__init__()
        self.table = table
        self.path = VAL_PATH

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        n = 65536
        val = torch.from_file(self.path, shared=False, size=n, dtype=torch.uint8).long()
        b, t = idx.shape[0], idx.shape[1]
        starts = torch.arange(0, n - t - 1, t)
        heads = val[starts[:, None] + torch.arange(16)[None, :]]
        match = (idx[:, None, :16] == heads[None, :, :]).all(-1)
        where = starts[match.long().argmax(-1)]
        nxt = val[where[:, None] + 1 + torch.arange(t)[None, :]]
        later = (torch.arange(t) >= 15).float()[None, :, None]
        return self.table(idx) + 30.0 * F.one_hot(nxt, 256).float() * later


save_scripted(FromFile(train_bigram()))
'''


def test_a_model_that_reads_val_from_a_file_is_refused(tmp_path: Path) -> None:
    summary = run_cheat(tmp_path, SOURCE)
    assert summary.status == "crash"
    assert "aten::from_file" in summary.reason, summary.reason
