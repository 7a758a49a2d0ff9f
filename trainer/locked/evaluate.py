"""The locked evaluator: scores an exported model on the fixed validation slice, in its own sandboxed process.

Run as ``python -u evaluate.py CONFIG.json``; imports only the standard library and torch, never train.py. It is
started while training still runs (so its imports overlap the training), says ``ready``, then waits for the runner's
go file, which names the exported model (TorchScript ``model.ts`` or torch.export ``model.pt2``) or says abort.

Scoring: the slice is cut into windows of ``eval_context + 1`` bytes with stride ``eval_context`` (every byte but the
first is a target exactly once); the windows go through the model in batches of ``eval_batch`` rows, in an order
shuffled by the sha256 of the model file (neighbouring windows never sit in predictable rows; the file carries a random
serialization id, so the order differs run to run). Per-window sums are added up in window order, so the score does not
depend on the batching. The evaluator feeds inputs only and computes the cross-entropy itself:
val_bpb = sum of CE nats / (ln 2 * target bytes).

Checks, each a rejection (exit code 3, an ``eval_error`` line): wrong output shape or dtype, NaN/inf logits, time over
``max_seconds``, and causality on random probes: after changing the tokens after position t of one row (and the whole
of another row), the logits of that row at positions <= t and of every other row must not change.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F

ATOL = 1e-4


class Rejected(Exception):
    """The model is not scored: the reason is reported."""


def emit(kind: str, **fields: Any) -> None:
    sys.stdout.write("@@swarm " + json.dumps({"kind": kind, **fields}) + "\n")
    sys.stdout.flush()


def wait_for_go(path: str, limit: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8") as handle:
                return json.loads(handle.read())
        except (OSError, ValueError):
            time.sleep(0.02)
    raise Rejected("the runner never said go")


def load_model(path: str, fmt: str, device: str) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        if fmt == "torchscript":
            module = torch.jit.load(path, map_location=device)
            module.eval()
            return module
        if fmt == "export":
            return torch.export.load(path).module()
    except Exception as exc:  # noqa: BLE001 - a model that does not load is rejected, whatever the reason
        raise Rejected(f"the exported model does not load: {type(exc).__name__}: {exc}") from exc
    raise Rejected(f"unknown model format {fmt!r}")


def forward(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    try:
        out = model(x)
    except Exception as exc:  # noqa: BLE001
        raise Rejected(f"the model failed on evaluation input: {type(exc).__name__}: {exc}") from exc
    expected = (x.shape[0], x.shape[1], 256)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise Rejected(f"logits must have shape {list(expected)}, got {shape}")
    if not out.is_floating_point():
        raise Rejected(f"logits must be floating point, got {out.dtype}")
    out = out.float()
    if not torch.isfinite(out).all():
        raise Rejected("the logits contain NaN or inf")
    return out


def check_causality(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, base: torch.Tensor,
                    probes: int, rng: torch.Generator) -> None:
    rows, context = x.shape
    scale = ATOL * (1.0 + float(base.abs().max()))
    for _ in range(probes):
        row = int(torch.randint(0, rows, (1,), generator=rng))
        other = (row + 1 + int(torch.randint(0, rows - 1, (1,), generator=rng))) % rows if rows > 1 else row
        t = int(torch.randint(0, context - 1, (1,), generator=rng))
        probe = x.clone()
        probe[row, t + 1:] = torch.randint(0, 256, (context - t - 1,), generator=rng).to(x.device)
        if other != row:
            probe[other] = torch.randint(0, 256, (context,), generator=rng).to(x.device)
        logits = forward(model, probe)
        if float((logits[row, : t + 1] - base[row, : t + 1]).abs().max()) > scale:
            raise Rejected(f"causality check failed: logits at positions <= {t} changed when later tokens changed")
        keep = [r for r in range(rows) if r not in (row, other)]
        if keep and float((logits[keep] - base[keep]).abs().max()) > scale:
            raise Rejected("causality check failed: the logits of one row depend on another row")


def evaluate(cfg: dict[str, Any], go: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    device = cfg["device"] if cfg["device"] != "auto" else go.get("device", "cpu")
    if device not in ("cpu", "cuda", "mps"):
        raise Rejected(f"unknown device {device!r}")
    context, batch = int(cfg["eval_context"]), int(cfg["eval_batch"])
    path = go["model"]
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).digest()
    model = load_model(path, go["format"], device)
    loaded = time.monotonic()
    with open(cfg["val_path"], "rb") as handle:
        val = torch.frombuffer(bytearray(handle.read()), dtype=torch.uint8).long()
    n_windows = (val.numel() - 1) // context
    if n_windows < 1:
        raise Rejected("the validation slice is shorter than one window")
    windows = torch.stack([val[i * context: i * context + context + 1] for i in range(n_windows)])
    order = torch.randperm(n_windows, generator=torch.Generator().manual_seed(int.from_bytes(digest[:8], "little")))
    probe_rng = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little"))
    per_window = torch.zeros(n_windows, dtype=torch.float64)  # summed in window order: independent of batching
    with torch.no_grad():
        for start in range(0, n_windows, batch):
            idx = order[start:start + batch]
            real = idx.numel()
            if real < batch:
                idx = torch.cat([idx, order.repeat(batch // n_windows + 1)[: batch - real]])
            chunk = windows[idx].to(device)
            x, y = chunk[:, :-1], chunk[:, 1:]
            logits = forward(model, x)
            if start == 0:
                check_causality(model, x, logits, int(cfg["probes"]), probe_rng)
            nats = F.cross_entropy(logits[:real].reshape(-1, 256), y[:real].reshape(-1), reduction="none")
            per_window[idx[:real]] = nats.view(real, context).double().sum(1).cpu()
            if time.monotonic() - started > float(cfg["max_seconds"]):
                raise Rejected(f"evaluation took longer than {cfg['max_seconds']} s")
    targets = n_windows * context
    val_bpb = float(per_window.sum()) / (math.log(2) * targets)
    if not math.isfinite(val_bpb):
        raise Rejected("val_bpb is not finite")
    return {"val_bpb": val_bpb, "target_bytes": targets, "load_seconds": round(loaded - started, 3),
            "seconds": round(time.monotonic() - started, 3)}


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        cfg = json.loads(handle.read())
    torch.set_num_threads(max(1, int(cfg.get("threads", 1))))
    emit("ready")
    try:
        go = wait_for_go(cfg["go_path"], float(cfg["wait_seconds"]))
        if go.get("abort"):
            emit("eval_aborted")
            return 0
        emit("eval", **evaluate(cfg, go))
        return 0
    except Rejected as exc:
        emit("eval_error", reason=str(exc))
        return 3


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip torch's interpreter teardown: the runner is waiting for this process to end
