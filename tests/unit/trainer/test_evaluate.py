"""The evaluator's checks, called in-process on small torch functions (no subprocess, no exported file)."""

from __future__ import annotations

import pytest
import torch

from trainer.locked.evaluate import Rejected, check_causality, forward

EMBED = torch.randn(256, 256, generator=torch.Generator().manual_seed(0))


def causal(x: torch.Tensor) -> torch.Tensor:
    """A running mean of embeddings: logits at t depend on tokens <= t only."""
    e = EMBED[x]
    return e.cumsum(1) / torch.arange(1, x.shape[1] + 1).view(1, -1, 1)


def peeks_next(x: torch.Tensor) -> torch.Tensor:
    """Cheats: adds the embedding of the NEXT token."""
    nxt = torch.roll(x, -1, dims=1)
    return causal(x) + EMBED[nxt]


def peeks_other_row(x: torch.Tensor) -> torch.Tensor:
    """Cheats across rows: the next row of the batch holds later text in a naive evaluator."""
    return causal(x) + 0.1 * causal(torch.roll(x, -1, dims=0)).mean(1, keepdim=True)


def probe(model, probes: int = 4) -> None:  # type: ignore[no-untyped-def]
    x = torch.randint(0, 256, (8, 32), generator=torch.Generator().manual_seed(1))
    base = forward(model, x)
    check_causality(model, x, base, probes, torch.Generator().manual_seed(2))


def test_causal_model_passes() -> None:
    probe(causal)


@pytest.mark.parametrize("cheat", [peeks_next, peeks_other_row])
def test_future_peeking_is_rejected(cheat) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Rejected, match="causality"):
        probe(cheat)


@pytest.mark.parametrize(("model", "why"), [
    (lambda x: causal(x) * float("nan"), "NaN"),
    (lambda x: causal(x)[:, :, :10], "shape"),
    (lambda x: x.unsqueeze(-1).expand(-1, -1, 256), "floating"),
    (lambda x: (causal(x), None), "shape"),
])
def test_bad_outputs_are_rejected(model, why: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Rejected, match=why):
        forward(model, torch.zeros(2, 8, dtype=torch.long))
