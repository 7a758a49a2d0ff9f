"""The scorer's checks, called in-process on small torch functions (no subprocess, no exported file)."""

from __future__ import annotations

from typing import Callable

import pytest
import torch

from trainer.locked.evaluate import Rejected, Scorer

EMBED = torch.randn(256, 256, generator=torch.Generator().manual_seed(0))
Model = Callable[[torch.Tensor], torch.Tensor]


class Local(Scorer):
    """The scorer with the model called in this process instead of through the model server's FIFO."""

    def __init__(self, model: Model, rows: int = 8, context: int = 32) -> None:
        super().__init__({"eval_batch": rows, "eval_context": context}, None)
        self.model = model

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).float()


def causal(x: torch.Tensor) -> torch.Tensor:
    """A running mean of embeddings: logits at t depend on tokens <= t only."""
    e = EMBED[x]
    return e.cumsum(1) / torch.arange(1, x.shape[1] + 1).view(1, -1, 1)


def peeks_next(x: torch.Tensor) -> torch.Tensor:
    """Cheats: adds the embedding of the NEXT token."""
    return causal(x) + EMBED[torch.roll(x, -1, dims=1)]


def peeks_other_row(x: torch.Tensor) -> torch.Tensor:
    """Cheats across rows: the next row of the batch holds later text in a naive evaluator."""
    return causal(x) + 0.1 * causal(torch.roll(x, -1, dims=0)).mean(1, keepdim=True)


def peeks_once(x: torch.Tensor) -> torch.Tensor:
    """Cheats at one position of 31 only: caught whenever a row's cut falls on it."""
    out = causal(x).clone()
    out[:, 5] += 30.0 * torch.nn.functional.one_hot(x[:, 6], 256).float()
    return out


def inflated(x: torch.Tensor) -> torch.Tensor:
    """A -1e7 logit on one byte (the old tolerance grew with it) and a +30 peek."""
    out = causal(x) + 30.0 * torch.nn.functional.one_hot(torch.roll(x, -1, 1), 256).float()
    out[..., 0] = -1e7
    return out


def batch(seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (8, 32), generator=torch.Generator().manual_seed(seed))


def test_causal_model_passes_and_its_scored_logprobs_are_its_own() -> None:
    x = batch()
    logp = Local(causal).checked(x)
    assert torch.allclose(logp, torch.log_softmax(causal(x), -1))


@pytest.mark.parametrize("cheat", [peeks_next, peeks_other_row, inflated])
def test_future_peeking_is_rejected_on_the_first_batch(cheat: Model) -> None:
    with pytest.raises(Rejected, match="causality check failed"):
        Local(cheat).checked(batch())


def test_a_one_position_peek_is_caught_within_a_few_batches() -> None:
    scorer = Local(peeks_once)
    with pytest.raises(Rejected, match="position 5"):
        for seed in range(40):  # 8 rows a batch, each cut hits position 5 with probability 1/31
            scorer.checked(batch(seed))


def test_non_finite_logits_are_rejected() -> None:
    with pytest.raises(Rejected, match="NaN"):
        Local(lambda x: causal(x) * float("nan")).checked(batch())
