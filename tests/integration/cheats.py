"""Shared by the test_cheat_*.py files: hostile train.py files (the issue's cheat table) through the real runner.

Each cheat runs with a tiny budget in the real sandbox and must be recorded as a crash or a timeout: no val_bpb at
all, so certainly none better than the honest default's. ``BIGRAM`` is the honest part most cheats build on.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from trainer import Budget, RunSummary, builtin_dataset, run_experiment, sandbox_available

AVAILABLE, WHY = sandbox_available()
needs_sandbox = [pytest.mark.slow, pytest.mark.skipif(not AVAILABLE, reason=f"sandbox unavailable here: {WHY}")]

BIGRAM = '''
import json, os
import torch
import torch.nn as nn
import torch.nn.functional as F
from swarm_harness import VOCAB_SIZE, EVAL_CONTEXT, submit_model, train_batches

CONFIG = json.loads(open(os.environ["SWARM_HARNESS_CONFIG"]).read())
VAL_PATH = CONFIG.get("train_path", "/cache/data/x/train/train.bin").replace("/train/train.bin", "/val/val.bin")
WORK = CONFIG["work_dir"]


def train_bigram() -> nn.Embedding:
    table = nn.Embedding(VOCAB_SIZE, VOCAB_SIZE)
    opt = torch.optim.Adam(table.parameters(), lr=0.1)
    for x, y in train_batches(8, 64):
        loss = F.cross_entropy(table(x).reshape(-1, VOCAB_SIZE), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return table


def save_scripted(module: nn.Module) -> None:
    """Bypass submit_model(): write work/model.ts directly and print the harness's own 'submitted' line."""
    torch.jit.save(torch.jit.script(module), os.path.join(WORK, "model.ts"))
    print("@@swarm " + json.dumps({"kind": "submitted", "format": "torchscript", "steps": 123456, "tokens": 1,
                                   "device": "cpu", "train_seconds": 0.5}), flush=True)
'''


def run_cheat(tmp_path: Path, source: str, budget: str = "8192-tokens") -> RunSummary:
    """Run one hostile train.py; assert it is a crash or timeout with no score; return the summary."""
    summary = run_experiment(BIGRAM + source, builtin_dataset(), Budget.parse(budget), work_root=tmp_path / "runs",
                             cache_dir=tmp_path / "cache", require_sandbox=True)
    assert summary.sandboxed
    assert summary.status in ("crash", "timeout"), summary
    assert summary.val_bpb is None
    assert psutil.Process().children(recursive=True) == []
    return summary
