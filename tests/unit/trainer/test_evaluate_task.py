"""The classify/rank scorer's rows-apart and no-state checks, called in-process on small torch functions."""

from __future__ import annotations

from typing import Callable

import pytest
import torch

from trainer.locked.evaluate import Rejected
from trainer.locked.evaluate_task import TaskScorer

EMBED = torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
Model = Callable[[torch.Tensor], torch.Tensor]


class Local(TaskScorer):
    """The scorer with the model called in this process instead of through the model server's FIFO."""

    def __init__(self, kind: str, model: Model, pool: torch.Tensor) -> None:
        shape = [8, 3] if kind == "classify" else [8]
        super().__init__({"kind": kind, "eval_batch": 8, "output_shape": shape}, None, pool)
        self.model = model

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float()


def per_row(x: torch.Tensor) -> torch.Tensor:
    return EMBED[x].mean(1)


def batch_norm(x: torch.Tensor) -> torch.Tensor:
    """Cheats: normalises over the batch, so a row's logits depend on the rows beside it."""
    h = per_row(x)
    return (h - h.mean(0, keepdim=True)) / (h.std(0, keepdim=True) + 1e-3)


def pair_score(x: torch.Tensor) -> torch.Tensor:
    return (EMBED[x[:, 0]].mean(1) * EMBED[x[:, 1]].mean(1)).sum(-1)


def listwise(x: torch.Tensor) -> torch.Tensor:
    """Cheats: softmax of the scores over the batch."""
    return torch.softmax(pair_score(x), dim=0)


@pytest.mark.parametrize(("kind", "honest", "cheat"), [("classify", per_row, batch_norm),
                                                       ("rank", pair_score, listwise)])
def test_a_model_that_mixes_rows_of_a_batch_is_rejected(kind: str, honest: Model, cheat: Model) -> None:
    gen = torch.Generator().manual_seed(1)
    shape = (64, 16) if kind == "classify" else (64, 2, 16)
    pool = torch.randint(1, 256, shape, generator=gen)
    x = pool[:8]
    assert torch.equal(Local(kind, honest, pool).checked(x), Local(kind, honest, pool).outputs(x))
    with pytest.raises(Rejected, match="rows-apart check failed"):
        for _ in range(5):  # the probe keeps a random half: one batch may be lucky, five are not
            Local(kind, cheat, pool).checked(x)


def test_non_finite_outputs_are_rejected() -> None:
    pool = torch.randint(1, 256, (16, 8))
    with pytest.raises(Rejected, match="NaN or inf"):
        Local("classify", lambda x: per_row(x) / 0.0 * 0.0, pool).checked(pool[:8])
