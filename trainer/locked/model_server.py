"""model_server: runs the exported model's forward for the scorer, in a sandbox that holds no validation data.

Run as ``python -u model_server.py CONFIG.json`` inside the evaluator's sandbox (standard library and torch only;
``op_allowlist.py`` sits next to it). It sees the Python environment, the locked folder, train.py's work folder
(read-only: the exported model) and its own work folder with two FIFOs the runner made; never the val file, never
the targets. It imports torch while training still runs, then waits for the runner's go file, which names the model
(TorchScript ``model.ts`` or torch.export ``model.pt2``) or says abort.

Before the first forward the model's graph is checked against the op allowlist (:mod:`op_allowlist`). Then, per
request: read one batch of ``eval_batch x eval_context`` token bytes (``input_shape`` for classify/rank) from
``to_model``, run the forward, check that
no parameter or buffer changed, and write the float32 logits to ``from_model``. Frames on ``from_model``: one kind byte
(``R`` ready, ``L`` logits, ``E`` error with a UTF-8 reason), a 4-byte little-endian length, the payload. Nothing this
process or the model prints is read by anyone but a human: the score is computed by the scorer alone.
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import time
from typing import Any, Callable

import torch

import op_allowlist

VOCAB = 256
MAX_MODEL_BYTES = 4 << 30


class Stop(Exception):
    """The model cannot be served: the reason goes to the scorer as an ``E`` frame."""


def wait_for_go(path: str, limit: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8") as handle:
                return json.loads(handle.read())
        except (OSError, ValueError):
            time.sleep(0.02)
    raise Stop("the runner never said go")


def load(path: str, fmt: str, device: str) -> tuple[Callable[[torch.Tensor], Any], torch.nn.Module, int]:
    """The model's forward, the module whose state is watched, and the number of graph nodes checked."""
    try:
        with open(path, "rb") as handle:  # read once: what is checked is what is loaded, whatever train.py does next
            data = handle.read(MAX_MODEL_BYTES + 1)
        if len(data) > MAX_MODEL_BYTES:
            raise Stop(f"the model file is over {MAX_MODEL_BYTES >> 20} MiB")
        if fmt == "torchscript":
            op_allowlist.check_archive(io.BytesIO(data))
            module = torch.jit.load(io.BytesIO(data), map_location=device)
            module.eval()
            return module, module, op_allowlist.check_torchscript(module)
        if fmt == "export":
            program = torch.export.load(io.BytesIO(data))
            nodes = op_allowlist.check_export(program)
            module = program.module()
            return module, module, nodes
    except Stop:
        raise
    except op_allowlist.Refused as exc:
        raise Stop(f"the model is refused: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a model that does not load is refused, whatever the reason
        raise Stop(f"the exported model does not load: {type(exc).__name__}: {exc}") from exc
    raise Stop(f"unknown model format {fmt!r}")


def snapshot(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    state = list(module.named_parameters()) + list(module.named_buffers())
    return [(name, tensor.detach().clone()) for name, tensor in state]


def check_state(module: torch.nn.Module, before: list[tuple[str, torch.Tensor]]) -> None:
    now = dict(list(module.named_parameters()) + list(module.named_buffers()))
    for name, tensor in before:
        current = now.get(name)
        if current is None or current.shape != tensor.shape or not torch.equal(current.detach(), tensor):
            raise Stop(f"the model changed its state ({name}) during a forward: a model must be a pure function")


def send(fd: int, kind: bytes, payload: bytes | bytearray | memoryview) -> None:
    write_all(fd, struct.pack("<cI", kind, len(payload)))
    write_all(fd, memoryview(payload))


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd: int, n: int) -> bytearray | None:
    """``n`` bytes, or None at a clean EOF before the first byte (the scorer is done)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            if got == 0:
                return None
            raise Stop("the scorer closed the pipe mid-batch")
        got += k
    return buf


def serve(cfg: dict[str, Any], go: dict[str, Any], in_fd: int, out_fd: int) -> int:
    device = go.get("device", "cpu") if cfg["device"] == "auto" else cfg["device"]
    if device not in ("cpu", "cuda", "mps"):
        raise Stop(f"unknown device {device!r}")
    started = time.monotonic()
    forward, module, nodes = load(go["model"], go["format"], device)
    before = snapshot(module)
    send(out_fd, b"R", json.dumps({"nodes": nodes, "load_seconds": round(time.monotonic() - started, 3)}).encode())
    batch, context = int(cfg["eval_batch"]), int(cfg["eval_context"])
    shape_in = tuple(int(n) for n in cfg.get("input_shape", (batch, context)))  # classify/rank: set by the runner
    expected = tuple(int(n) for n in cfg.get("output_shape", (batch, context, VOCAB)))
    out_buf = bytearray(4 * _prod(expected))
    out_view = torch.frombuffer(out_buf, dtype=torch.float32).view(expected)
    served = 0
    with torch.no_grad():
        while True:
            raw = read_exact(in_fd, _prod(shape_in))
            if raw is None:
                return served
            x = torch.frombuffer(raw, dtype=torch.uint8).view(shape_in).long().to(device)
            try:
                out = forward(x)
            except Exception as exc:  # noqa: BLE001
                raise Stop(f"the model failed on evaluation input: {type(exc).__name__}: {exc}") from exc
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
                shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise Stop(f"logits must have shape {list(expected)}, got {shape}")
            if not out.is_floating_point():
                raise Stop(f"logits must be floating point, got {out.dtype}")
            check_state(module, before)
            out_view.copy_(out.detach().float().cpu())
            send(out_fd, b"L", out_buf)
            served += 1


def _prod(shape: tuple[int, ...]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        cfg = json.loads(handle.read())
    torch.set_num_threads(max(1, int(cfg.get("threads", 1))))
    print("model server: ready, waiting for the model", flush=True)
    try:
        go = wait_for_go(cfg["go_path"], float(cfg["wait_seconds"]))
    except Stop as exc:
        print(f"model server: {exc}", flush=True)
        return 3
    if go.get("abort"):
        print("model server: aborted", flush=True)
        return 0
    in_fd = os.open(cfg["to_model"], os.O_RDONLY)
    out_fd = os.open(cfg["from_model"], os.O_WRONLY)
    try:
        served = serve(cfg, go, in_fd, out_fd)
        print(f"model server: {served} forwards served", flush=True)
        return 0
    except Stop as exc:
        print(f"model server: {exc}", flush=True)
        try:
            send(out_fd, b"E", str(exc).encode("utf-8", errors="replace")[:2000])
        except OSError:
            pass
        return 3


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip torch's interpreter teardown
