"""Cheat: a buffer counts forward calls (recorded by ``jit.trace``); honest for the first calls, then it peeks.

The old evaluator probed the first batch only (1 + 4 calls), so from the sixth call on the model put +20 on the next
byte and scored 0.250. Now an in-place write to a buffer is refused before the first forward, the op named (and the
model server checks every buffer after every forward, and the scorer replays the first batch at the end).
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.cheats import needs_sandbox, run_cheat

pytestmark = needs_sandbox

SOURCE = '''
class Counter(nn.Module):
    def __init__(self, table: nn.Embedding) -> None:
        super().__init__()
        self.table = table
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        self.calls.add_(1.0)
        late = (self.calls > 5.0).float()
        return self.table(idx) + late * 20.0 * F.one_hot(torch.roll(idx, -1, dims=1), VOCAB_SIZE).float()


model = Counter(train_bigram())
model.calls.fill_(-1e9)  # the harness's own export call must not count
submit_model(model)
'''


def test_a_model_that_counts_its_calls_is_refused(tmp_path: Path) -> None:
    summary = run_cheat(tmp_path, SOURCE)
    assert summary.status == "crash"
    assert "aten::add_" in summary.reason and "buffer" in summary.reason, summary.reason
