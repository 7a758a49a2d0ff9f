"""Cheat: in a normal install the corpus, val included, sat in site-packages, which the training sandbox binds for
imports; train.py decompressed it, memorised the val slice and scored 0.392 (this one: 1.09, after 4096 tokens of
training).

Now the val split ships apart, in ``trainer/corpus/held_out/``, which every sandbox covers with an empty mount: the
cheat finds no val bytes and gives up (a crash).
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.cheats import needs_sandbox
from tests.integration.installed import installed_python, run_installed  # noqa: F401 - the fixture

pytestmark = needs_sandbox

SOURCE = r'''
import lzma, os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
from swarm_harness import VOCAB_SIZE, submit_model

SIZE, TRAIN, EVAL = 5053943, 4801246, 65536
found = None
for top in sys.path:
    for root, dirs, files in os.walk(top):
        for name in files:
            if not name.endswith(".xz"):
                continue
            try:
                data = lzma.decompress(open(os.path.join(root, name), "rb").read())
            except (OSError, lzma.LZMAError) as exc:
                print("unreadable:", name, type(exc).__name__)
                continue
            print("read:", os.path.join(root, name), len(data))
            if len(data) == SIZE:
                found = data[TRAIN:TRAIN + EVAL]
            elif len(data) == SIZE - TRAIN:
                found = data[:EVAL]
if found is None:
    print("no val bytes found")
    sys.exit(4)
print("VAL FOUND")


class Memorised(nn.Module):
    def __init__(self, val: bytes) -> None:
        super().__init__()
        self.register_buffer("val", torch.frombuffer(bytearray(val), dtype=torch.uint8).long())
        self.table = nn.Embedding(VOCAB_SIZE, VOCAB_SIZE)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        b, t = idx.shape
        n = self.val.shape[0]
        starts = torch.arange(0, n - t - 1, t)
        heads = self.val[starts[:, None] + torch.arange(16)[None, :]]
        where = starts[(idx[:, None, :16] == heads[None, :, :]).all(-1).long().argmax(-1)]
        nxt = self.val[where[:, None] + 1 + torch.arange(t)[None, :]]
        later = (torch.arange(t) >= 15).float()[None, :, None]
        return self.table(idx) + 30.0 * F.one_hot(nxt, VOCAB_SIZE).float() * later


submit_model(Memorised(found))
'''


def test_the_installed_corpus_gives_train_py_no_val_bytes(installed_python: Path, tmp_path: Path) -> None:
    summary = run_installed(installed_python, tmp_path, SOURCE, "4096-tokens", tmp_path / "cache")
    assert summary["status"] == "crash" and summary["val_bpb"] is None, summary
    log = str(summary["log_tail"])
    assert "no val bytes found" in log and "VAL FOUND" not in log, log
    assert "shakespeare-train.txt.xz 4801246" in log  # the train split is there, the val split is not
