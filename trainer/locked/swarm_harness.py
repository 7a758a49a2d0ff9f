"""swarm_harness: the locked half of every experiment, imported by train.py (``from swarm_harness import ...``).

This file is copied into a read-only folder of each run and put on train.py's ``PYTHONPATH``; it imports only the
standard library and torch. It reads its settings from the read-only JSON file named by ``SWARM_HARNESS_CONFIG``
(written by the runner), never from train.py. What train.py gets:

- ``BUDGET`` ("60s" / "2M-tokens"), ``BUDGET_KIND`` ("seconds" | "tokens"), ``BUDGET_AMOUNT`` (int)
- ``DEVICE`` ("cpu" | "cuda" | "mps", picked here), ``SEED`` (int; torch and random are seeded on import)
- ``VOCAB_SIZE`` (256: byte-level), ``EVAL_CONTEXT`` (the sequence length the evaluator feeds: the model must accept
  int64 tokens [B, EVAL_CONTEXT] and return logits [B, EVAL_CONTEXT, VOCAB_SIZE])
- ``train_batches(batch_size, context)``: (x, y) int64 batches on DEVICE drawn from the TRAIN split only (y is x
  shifted by one byte); it stops by itself when the budget is spent
- ``budget_fraction()``: the share of the budget spent, 0..1 (for schedules), ``elapsed()``: seconds since launch
- ``submit_model(model)``: hands the trained model back (exported to a graph of tensor ops for the evaluator)

The batches come through a pipe from the runner's batch server (outside the sandbox: the training split is not even
visible in here), which counts steps and tokens and alone decides when the budget is spent. ``CLOCK`` says what a
time budget counts: ``"cpu"`` (CPU-seconds of the sandboxed process tree, ``BUDGET_AMOUNT x THREADS`` of them,
read outside this process, from the first batch asked for: start-up before it is not charged, up to a cap) or
``"wall"`` (wall seconds on a CUDA/MPS device, from the launch of the sandbox: start-up is inside the budget). A token budget counts the tokens
served (batch_size * context per batch); a batch that would exceed it is not served. ``budget_fraction()`` reads this
process's own clock only to pace schedules: rewriting it changes nothing outside.
The task (``TASK``: "lm" | "classify" | "rank"; "custom" tasks train an lm-shaped model) changes what
``train_batches`` yields and what ``submit_model`` expects:

- classify: ``LABELS`` (the sorted label names), ``N_LABELS``; ``train_batches(batch_size, context)`` yields x int64
  [B, context] (a text's UTF-8 bytes, cut, right-padded with 0) and y int64 [B] (label ids, indexes into LABELS);
  the model maps int64 [B, EVAL_CONTEXT] to logits [B, N_LABELS];
- rank: ``train_batches(batch_size, context)`` yields x int64 [B, 2, context] (per pair: the query's bytes, the
  candidate's bytes, each cut and 0-padded) and y float32 [B] (1.0 relevant, 0.0 not; half the pairs relevant);
  the model maps int64 [B, 2, EVAL_CONTEXT] to scores float [B] (higher ranks first).

Each row's output must depend on that row alone: the evaluator checks it.
The harness prints machine-readable lines starting with ``@@swarm `` for the runner (nothing in them is trusted).
"""

from __future__ import annotations

import json
import math
import os
import random
import struct
import sys
import time
from typing import Any, Iterator

import torch

__all__ = [
    "BUDGET", "BUDGET_KIND", "BUDGET_AMOUNT", "DEVICE", "SEED", "VOCAB_SIZE", "EVAL_CONTEXT", "CLOCK", "THREADS",
    "TASK", "LABELS", "N_LABELS",
    "train_batches", "budget_fraction", "elapsed", "submit_model",
]

_CONFIG: dict[str, Any] = json.loads(open(os.environ["SWARM_HARNESS_CONFIG"], encoding="utf-8").read())
_LAUNCHED_AT: float = float(_CONFIG["launched_at"])

BUDGET_KIND: str = _CONFIG["budget_kind"]
BUDGET_AMOUNT: int = int(_CONFIG["budget_amount"])
BUDGET: str = _CONFIG["budget"]
SEED: int = int(_CONFIG["seed"])
VOCAB_SIZE: int = 256
EVAL_CONTEXT: int = int(_CONFIG["eval_context"])
_EVAL_BATCH: int = int(_CONFIG["eval_batch"])
_PROGRESS_EVERY: float = float(_CONFIG.get("progress_every", 1.0))
CLOCK: str = str(_CONFIG.get("clock", "wall"))
THREADS: int = max(1, int(_CONFIG.get("threads", 1)))
_COMPUTE_LIMIT: float = float(_CONFIG.get("compute_limit", BUDGET_AMOUNT))
_REQUEST_FD: int = int(_CONFIG["batch_request_fd"])
_REPLY_FD: int = int(_CONFIG["batch_reply_fd"])
TASK: str = str(_CONFIG.get("task", "lm"))
LABELS: tuple[str, ...] = tuple(str(name) for name in _CONFIG.get("labels", ()))
N_LABELS: int = len(LABELS)


def _pick_device(wanted: str) -> str:
    if wanted != "auto":
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


DEVICE: str = _pick_device(_CONFIG.get("device", "auto"))
if DEVICE == "cpu":
    torch.set_num_threads(THREADS)
elif DEVICE == "cuda":  # a bound for an honest train.py's mistakes; the node's memory cgroup bounds host RAM
    torch.cuda.set_per_process_memory_fraction(float(_CONFIG.get("gpu_memory_fraction", 0.9)))
random.seed(SEED)
torch.manual_seed(SEED)

_state: dict[str, Any] = {"steps": 0, "tokens": 0, "first_batch_at": None, "last_batch_at": None,
                          "exhausted": False, "submitted": False, "cpu_at_first_batch": None}
_imported_at = time.time()


def _emit(kind: str, **fields: Any) -> None:
    sys.stdout.write("@@swarm " + json.dumps({"kind": kind, **fields}) + "\n")
    sys.stdout.flush()


def elapsed() -> float:
    """Seconds since the runner launched this process (the time budget's clock)."""
    return time.time() - _LAUNCHED_AT


def budget_fraction() -> float:
    """Share of the budget spent so far, clipped to 0..1 (time or tokens, whichever the budget counts)."""
    if BUDGET_KIND == "seconds" and CLOCK == "cpu":  # this process's CPU-seconds since the first batch
        start = _state["cpu_at_first_batch"]
        spent = 0.0 if start is None else (time.process_time() - start) / _COMPUTE_LIMIT
    elif BUDGET_KIND == "seconds":
        spent = elapsed() / BUDGET_AMOUNT
    else:
        spent = _state["tokens"] / BUDGET_AMOUNT
    return min(max(spent, 0.0), 1.0)


def _read_exact(n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(_REPLY_FD, n - len(buf))
        if not chunk:
            raise RuntimeError("the runner's batch server closed the pipe")
        buf += chunk
    return bytes(buf)


def _payload_size(batch_size: int, context: int) -> int:
    if TASK == "classify":
        return batch_size * context + 2 * batch_size
    if TASK == "rank":
        return batch_size * 2 * context + batch_size
    return batch_size * (context + 1)


def _next_batch(batch_size: int, context: int) -> bytearray | None:
    """One batch's payload from the batch server (see :func:`_payload_size`), or None when the budget is spent."""
    if _state["cpu_at_first_batch"] is None:  # on the cpu clock the budget starts with the first batch asked for
        _state["cpu_at_first_batch"] = time.process_time()
    os.write(_REQUEST_FD, struct.pack("<II", batch_size, context))
    status = _read_exact(1)
    if status == b"\x00":
        return None
    if status != b"\x01":
        raise ValueError(f"train_batches({batch_size}, {context}) refused by the runner: context must be shorter "
                         "than the training split and one batch at most 64 MiB")
    return bytearray(_read_exact(_payload_size(batch_size, context)))


def _decode(raw: bytearray, batch_size: int, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    if TASK == "classify":
        cut = batch_size * context
        x = torch.frombuffer(raw[:cut], dtype=torch.uint8).view(batch_size, context).long()
        return x, torch.frombuffer(raw[cut:], dtype=torch.int16).long()
    if TASK == "rank":
        cut = batch_size * 2 * context
        x = torch.frombuffer(raw[:cut], dtype=torch.uint8).view(batch_size, 2, context).long()
        return x, torch.frombuffer(raw[cut:], dtype=torch.uint8).float()
    chunk = torch.frombuffer(raw, dtype=torch.uint8).view(batch_size, context + 1).long()
    return chunk[:, :-1], chunk[:, 1:]


def train_batches(batch_size: int, context: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Random (x, y) batches of the training split until the budget is spent. lm: windows, x and y int64
    [batch_size, context]; classify and rank: see the module's docstring."""
    if batch_size < 1 or context < 1:
        raise ValueError("batch_size and context must be positive")
    per_batch = batch_size * context
    last_progress = 0.0
    while True:
        raw = _next_batch(batch_size, context)
        if raw is None:
            break
        now = time.time()
        x, y = _decode(raw, batch_size, context)
        if DEVICE != "cpu":
            x, y = x.to(DEVICE, non_blocking=True), y.to(DEVICE, non_blocking=True)
        if _state["first_batch_at"] is None:
            _state["first_batch_at"] = now
        _state["steps"] += 1
        _state["tokens"] += per_batch
        _state["last_batch_at"] = now
        if now - last_progress >= _PROGRESS_EVERY:
            last_progress = now
            _emit("progress", step=_state["steps"], tokens=_state["tokens"], elapsed=round(now - _LAUNCHED_AT, 3),
                  fraction=round(budget_fraction(), 4))
        yield x, y
    _state["exhausted"] = True


class _LogitsOnly(torch.nn.Module):
    """Wraps a model whose forward returns a tuple (logits, ...) so that the export returns the logits alone."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        out = self.inner(idx)
        return out[0] if isinstance(out, (tuple, list)) else out


def submit_model(model: torch.nn.Module) -> None:
    """Export the trained model for the evaluator (a graph of tensor ops: the evaluator never imports train.py).

    torch.jit.trace is tried first (about 1 s here), torch.export second (about 3.5 s with the evaluator's load).
    """
    if _state["submitted"]:
        raise RuntimeError("submit_model() may be called once")
    _state["submitted"] = True
    started = time.time()
    work = _CONFIG["work_dir"]
    model.eval()
    wrapped = _LogitsOnly(model).eval()
    shape_in = (_EVAL_BATCH, 2, EVAL_CONTEXT) if TASK == "rank" else (_EVAL_BATCH, EVAL_CONTEXT)
    example = torch.randint(0, VOCAB_SIZE, shape_in, device=DEVICE,
                            generator=torch.Generator().manual_seed(SEED) if DEVICE == "cpu" else None)
    with torch.no_grad():
        out = wrapped(example)
    expected = {"classify": (_EVAL_BATCH, N_LABELS), "rank": (_EVAL_BATCH,)}.get(
        TASK, (_EVAL_BATCH, EVAL_CONTEXT, VOCAB_SIZE))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        what = {"classify": "logits", "rank": "scores"}.get(TASK, "logits")
        raise ValueError(f"the model must map int64 {list(shape_in)} to {what} {list(expected)}, got {shape}")
    fmt, path, errors = None, None, []
    try:
        with torch.no_grad():
            traced = torch.jit.trace(wrapped, example, check_trace=False)
        path = os.path.join(work, "model.ts")
        torch.jit.save(traced, path)
        fmt = "torchscript"
    except Exception as exc:  # noqa: BLE001 - any failure means: try the other exporter
        errors.append(f"jit.trace: {type(exc).__name__}: {exc}")
        try:
            program = torch.export.export(wrapped, (example,))
            path = os.path.join(work, "model.pt2")
            torch.export.save(program, path)
            fmt = "export"
        except Exception as exc2:  # noqa: BLE001
            errors.append(f"export: {type(exc2).__name__}: {exc2}")
    if fmt is None:
        raise RuntimeError("the model could not be exported: " + "; ".join(errors))
    done = time.time()
    first = _state["first_batch_at"] or started
    _emit("submitted", format=fmt, path=path, steps=_state["steps"], tokens=_state["tokens"],
          startup_seconds=round(first - _LAUNCHED_AT, 3), import_seconds=round(_imported_at - _LAUNCHED_AT, 3),
          train_seconds=round(started - first, 3), export_seconds=round(done - started, 3),
          budget_exhausted=_state["exhausted"], device=DEVICE)
