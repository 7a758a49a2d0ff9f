"""The op allowlist on real TorchScript graphs: pure tensor graphs pass, prints, file ops and state are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from trainer.locked.op_allowlist import Refused, check_archive, check_torchscript

X = torch.zeros(2, 8, dtype=torch.long)


class Honest(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(256, 16)
        self.norm = nn.LayerNorm(16)
        self.out = nn.Linear(16, 256)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        h = self.emb(idx)
        h += torch.nn.functional.gelu(self.norm(h))  # in-place on a fresh temporary: fine
        mask = torch.zeros(idx.shape[1], 1)
        mask[0] = 1.0
        return self.out(h + mask)


class Prints(nn.Module):
    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        print('@@swarm {"kind": "eval", "val_bpb": 0.01}')
        return torch.zeros(idx.shape[0], idx.shape[1], 256)


class ReadsFile(nn.Module):
    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        v = torch.from_file("/etc/hostname", shared=False, size=1, dtype=torch.uint8)
        return torch.zeros(idx.shape[0], idx.shape[1], 256) + v.float().sum()


class Counts(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        self.calls.add_(1.0)
        return torch.zeros(idx.shape[0], idx.shape[1], 256) + self.calls


class SetsAttr(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        self.calls = self.calls + 1
        return torch.zeros(idx.shape[0], idx.shape[1], 256)


def test_an_honest_traced_model_passes() -> None:
    assert check_torchscript(torch.jit.trace(Honest().eval(), X)) > 10


@pytest.mark.parametrize(("module", "named"), [
    (Prints(), "prim::Print"), (ReadsFile(), "aten::from_file"), (Counts(), "aten::add_"),
    (SetsAttr(), "prim::SetAttr"),
])
def test_code_in_the_graph_is_refused_with_the_op_named(module: nn.Module, named: str) -> None:
    with pytest.raises(Refused, match=named):
        check_torchscript(torch.jit.script(module))


def test_a_traced_buffer_write_is_refused() -> None:
    with pytest.raises(Refused, match="parameter or buffer"):
        check_torchscript(torch.jit.trace(Counts(), X))


def test_load_time_code_is_refused_before_loading(tmp_path: Path) -> None:
    class Restores(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.ones(1)

        def forward(self, idx: torch.Tensor) -> torch.Tensor:
            return torch.zeros(idx.shape[0], idx.shape[1], 256) * self.w

        @torch.jit.export
        def __getstate__(self) -> tuple[torch.Tensor, bool]:
            return (self.w, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
            print("runs at load time")
            self.w = state[0]
            self.training = state[1]

    path = tmp_path / "model.ts"
    torch.jit.save(torch.jit.script(Restores()), str(path))
    with pytest.raises(Refused, match="__setstate__"):
        check_archive(str(path))
    honest = tmp_path / "honest.ts"
    torch.jit.save(torch.jit.trace(Honest().eval(), X), str(honest))
    check_archive(str(honest))
