"""The locked scorer of the classify and rank tasks: the only process that holds the val rows and their labels.

Run as ``python -u evaluate_task.py CONFIG.json`` by the runner (standard library and torch; its siblings
``evaluate.py`` (the FIFO pipe), ``task_codec.py`` and ``task_metrics.py``). As for lm, the model runs in
``model_server.py`` in a sandbox without the val file and gets only input bytes; the score goes to ``result_path``,
in a folder no sandbox binds.

Items: classify, one per val row (its text); rank, one per (val row, candidate) pair. They go to the model in
batches of ``eval_batch``, in an order drawn from ``os.urandom``. Checks, each a rejection with the reason:

- rows stay apart, on EVERY batch: a second forward, random in order against the scored one, holds a random half
  of the batch's items (permuted) beside other items drawn at random from the val items; each kept item's output
  must agree with the scored forward's within ``ATOL`` (classify: log-probabilities clamped at -50; rank: scores,
  relative to their size). A model that mixes rows of a batch (batch statistics, attention across rows) fails it.
- no state: the first batch is sent again at the end and must give the same outputs.
- shape, finite outputs, time over ``max_seconds``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any

import torch

if __package__:  # imported as trainer.locked.evaluate_task (the tests)
    from .evaluate import Pipe, Rejected, serve
    from .task_codec import encode
    from .task_metrics import classify_metrics, rank_metrics
else:  # run as a script beside its siblings (the runner)
    from evaluate import Pipe, Rejected, serve  # type: ignore[no-redef]
    from task_codec import encode  # type: ignore[no-redef]
    from task_metrics import classify_metrics, rank_metrics  # type: ignore[no-redef]

ATOL = 1e-3
LOGP_CLAMP = 50.0


def load_items(cfg: dict[str, Any]) -> tuple[torch.Tensor, list[Any]]:
    """(inputs uint8 [N, ...], the truth: label ids (classify) or (row, candidate, relevant) (rank))."""
    context = int(cfg["eval_context"])
    labels = {name: i for i, name in enumerate(cfg["labels"])}
    blobs: list[bytes] = []
    truth: list[Any] = []
    with open(cfg["val_path"], encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            record = json.loads(line)
            if cfg["kind"] == "classify":
                blobs.append(encode(record["text"], context))
                truth.append(labels[record["label"]])
            else:
                query = encode(record["query"], context)
                for i, candidate in enumerate(record["candidates"]):
                    blobs.append(query + encode(candidate, context))
                    truth.append((n, i, i in record["relevant"]))
    shape = (len(blobs), 2, context) if cfg["kind"] == "rank" else (len(blobs), context)
    return torch.frombuffer(bytearray(b"".join(blobs)), dtype=torch.uint8).view(shape).clone(), truth


class TaskScorer:
    def __init__(self, cfg: dict[str, Any], pipe: Pipe | None, pool: torch.Tensor) -> None:
        self.pipe, self.pool = pipe, pool
        self.kind = cfg["kind"]
        self.batch = int(cfg["eval_batch"])
        self.out_shape = tuple(int(n) for n in cfg["output_shape"])
        self.atol = float(cfg.get("atol", ATOL))
        self.rng = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little"))
        self.forwards = 0

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The model's float32 outputs for ``x``, from the model server."""
        assert self.pipe is not None
        self.pipe.send(x)
        size = 4 * math.prod(self.out_shape)
        kind, payload = self.pipe.frame(size)
        if kind != b"L" or len(payload) != size:
            raise Rejected("the model server sent no outputs")
        return torch.frombuffer(payload, dtype=torch.float32).view(self.out_shape).clone()

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        out = self.raw(x)
        self.forwards += 1
        if not torch.isfinite(out).all():
            raise Rejected("the model's outputs contain NaN or inf")
        return torch.log_softmax(out, dim=-1).clamp(min=-LOGP_CLAMP) if self.kind == "classify" else out

    def differs(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per item: by how much ``b`` is off ``a`` (0 within tolerance)."""
        if self.kind == "classify":
            return (a - b).abs().amax(dim=-1) / self.atol
        return (a - b).abs() / (self.atol * a.abs().clamp(min=1.0))

    def checked(self, x: torch.Tensor) -> torch.Tensor:
        """The scored outputs of one batch, after the rows-stay-apart probe passed."""
        rows = x.shape[0]
        keep = torch.randperm(rows, generator=self.rng)[: max(1, rows // 2)]
        fill = torch.randint(0, self.pool.shape[0], (rows - keep.numel(),), generator=self.rng)
        probe = torch.cat([x[keep], self.pool[fill]])
        perm = torch.randperm(rows, generator=self.rng)
        probe = probe[perm]
        if bool(torch.randint(0, 2, (1,), generator=self.rng)):
            scored, probed = self.outputs(x), self.outputs(probe)
        else:
            probed, scored = self.outputs(probe), self.outputs(x)
        where = torch.empty(rows, dtype=torch.long)
        where[perm] = torch.arange(rows)  # where[j] = position in probe of probe-row j before the permutation
        again = probed[where[: keep.numel()]]
        off = self.differs(scored[keep], again)
        if float(off.max()) > 1.0:
            row = int(keep[int(off.argmax())])
            raise Rejected(f"rows-apart check failed: row {row}'s output changed when the other rows of its batch "
                           "changed (a model's output for a row must depend on that row alone)")
        return scored


def score(cfg: dict[str, Any], pipe: Pipe, started: float) -> dict[str, Any]:
    items, truth = load_items(cfg)
    n = items.shape[0]
    if n < 1:
        raise Rejected("the val split is empty")
    kind, _ = pipe.frame(1 << 16)
    if kind != b"R":
        raise Rejected("the model server did not say ready")
    ready = time.monotonic()
    pipe.deadline = ready + float(cfg["max_seconds"]) + 1.0
    scorer = TaskScorer(cfg, pipe, items)
    batch = scorer.batch
    order = torch.randperm(n, generator=scorer.rng)
    results = torch.zeros((n, *scorer.out_shape[1:]), dtype=torch.float64)
    first: tuple[torch.Tensor, torch.Tensor] | None = None
    for start in range(0, n, batch):
        idx = order[start:start + batch]
        real = idx.numel()
        if real < batch:
            idx = torch.cat([idx, order.repeat(batch // n + 1)[: batch - real]])
        out = scorer.checked(items[idx])
        if first is None:
            first = (items[idx], out)
        results[idx[:real]] = out[:real].double()
        if time.monotonic() - ready > float(cfg["max_seconds"]):
            raise Rejected(f"evaluation took longer than {cfg['max_seconds']} s")
    assert first is not None
    if float(scorer.differs(first[1], scorer.outputs(first[0])).max()) > 1.0:
        raise Rejected("the model gave a different answer to the same batch later: it keeps state across calls")
    if cfg["kind"] == "classify":
        metrics = classify_metrics(results.tolist(), truth, len(cfg["labels"]))
    else:
        groups: dict[int, tuple[list[float], set[int]]] = {}
        for (row, cand, relevant), value in zip(truth, results.tolist()):
            scores, rel = groups.setdefault(row, ([], set()))
            scores.append(value)
            if relevant:
                rel.add(cand)
        metrics = rank_metrics(list(groups.values()))
    if not all(math.isfinite(v) for v in metrics.values()):
        raise Rejected("a metric is not finite")
    return {"metrics": metrics, "items": n, "forwards": scorer.forwards, "wait_seconds": round(ready - started, 3),
            "seconds": round(time.monotonic() - ready, 3)}


if __name__ == "__main__":
    code = serve(score)
    sys.stdout.flush()
    os._exit(code)
