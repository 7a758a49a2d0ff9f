"""The locked scorer: the only process that holds the validation slice and its targets, and computes val_bpb.

Run as ``python -u evaluate.py CONFIG.json`` by the runner (standard library and torch only). It never loads the
model: the model runs in ``model_server.py``, in a sandbox without the val file, and gets only input bytes through
the ``to_model`` FIFO; its float32 logits come back through ``from_model``. The score goes to ``result_path``, a file
in a folder that no sandbox binds, which the runner reads after both processes ended. Nothing printed by train.py,
the model or the model server is believed.

Scoring: the slice is cut into windows of ``eval_context + 1`` bytes with stride ``eval_context`` (every byte but the
first is a target exactly once); the windows go through the model in batches of ``eval_batch`` rows, in an order
drawn from ``os.urandom``. Per-window sums are added up in window order, so the score does not depend on the
batching: val_bpb = sum of cross-entropy nats / (ln 2 * target bytes).

Checks, each a rejection with the reason:

- causality on EVERY batch and every row: a second forward of the batch, rows permuted, each row's bytes after its
  own random cut replaced by random bytes; each row's log-probabilities at every position up to its cut must agree
  with the scored forward's within ``ATOL`` nats (absolute, on log-probabilities clamped at ``-LOGP_CLAMP``: no logit
  size can widen it). The two forwards go out in a random order.
- no state: the first batch is sent again at the end and must give the same log-probabilities (and the model server
  checks after every forward that no parameter or buffer changed).
- shape, dtype, finite logits, time over ``max_seconds``.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import sys
import time
from typing import Any, Callable

import torch

VOCAB = 256
ATOL = 1e-3  # nats: a peek that stays within it gains at most this much per position
LOGP_CLAMP = 50.0  # log-probabilities below -50 (p < 2e-22) compare as equal: float32 noise there means nothing


PARENT_POLL = 1.0  # seconds between looks at the parent while the scorer waits on the model server


class Rejected(Exception):
    """The model is not scored: the reason is reported."""


class Pipe:
    """The scorer's ends of the two FIFOs, every read bounded by the evaluation deadline."""

    def __init__(self, to_model: str, from_model: str, deadline: float, parent: int | None = None) -> None:
        self.out_fd = os.open(to_model, os.O_RDWR)  # never blocks; the model server's EOF comes when this closes
        self.in_fd = os.open(from_model, os.O_RDONLY | os.O_NONBLOCK)
        self.deadline = deadline
        self.parent = parent  # the node's pid: the scorer has a session of its own, so nothing else ends it

    def close(self) -> None:
        for fd in (self.out_fd, self.in_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def send(self, tokens: torch.Tensor) -> None:
        data = memoryview(bytes(tokens.to(torch.uint8).contiguous().view(-1).tolist()))
        while data:
            self._wait(self.out_fd, write=True)
            data = data[os.write(self.out_fd, data):]

    def _wait(self, fd: int, write: bool = False) -> None:
        """Until ``fd`` is ready, the deadline passes, or the node that started the scorer is gone (looked at every
        ``PARENT_POLL`` s: a node killed mid-run left its scorer waiting out the whole deadline)."""
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Rejected("the model server did not answer in time (evaluation deadline passed)")
            wait = min(left, PARENT_POLL)
            ready = select.select([], [fd], [], wait) if write else select.select([fd], [], [], wait)
            if ready[1] if write else ready[0]:
                return
            if self.parent is not None and os.getppid() != self.parent:
                raise Rejected("the node that started the scorer exited")

    def read_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            self._wait(self.in_fd)
            try:
                k = os.readv(self.in_fd, [view[got:]])
            except BlockingIOError:
                continue
            if k == 0:
                raise Rejected("the model server exited before it answered")
            got += k
        return buf

    def frame(self, limit: int) -> tuple[bytes, bytearray]:
        kind, length = struct.unpack("<cI", bytes(self.read_exact(5)))
        if kind not in (b"R", b"L", b"E") or length > limit:
            raise Rejected("the model server sent a malformed frame")
        payload = self.read_exact(length) if length else bytearray()
        if kind == b"E":
            raise Rejected(payload.decode("utf-8", errors="replace")[:2000])
        return kind, payload


class Scorer:
    """The checks and the loss, on the logits :meth:`logits` gets (from the model server, or a test's function)."""

    def __init__(self, cfg: dict[str, Any], pipe: Pipe | None) -> None:
        self.pipe = pipe
        self.batch, self.context = int(cfg["eval_batch"]), int(cfg["eval_context"])
        self.atol = float(cfg.get("atol", ATOL))
        self.rng = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little"))
        self.forwards = 0

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The model's float32 logits [batch, context, 256] for ``x``, from the model server."""
        assert self.pipe is not None
        self.pipe.send(x)
        size = self.batch * self.context * VOCAB * 4
        kind, payload = self.pipe.frame(size)
        if kind != b"L" or len(payload) != size:
            raise Rejected("the model server sent no logits")
        return torch.frombuffer(payload, dtype=torch.float32).view(self.batch, self.context, VOCAB)

    def logprobs(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.logits(x)
        self.forwards += 1
        if not torch.isfinite(logits).all():
            raise Rejected("the logits contain NaN or inf")
        return torch.log_softmax(logits, dim=-1)

    def checked(self, x: torch.Tensor) -> torch.Tensor:
        """The scored log-probabilities of one batch, after its causality probe passed on every row."""
        rows, context = x.shape
        cuts = torch.randint(0, context - 1, (rows,), generator=self.rng)
        probe = x.clone()
        noise = torch.randint(0, VOCAB, (rows, context), generator=self.rng)
        after = torch.arange(context)[None, :] > cuts[:, None]
        probe[after] = noise[after]
        perm = torch.randperm(rows, generator=self.rng)
        if bool(torch.randint(0, 2, (1,), generator=self.rng)):
            scored, permuted = self.logprobs(x), self.logprobs(probe[perm])
        else:
            permuted, scored = self.logprobs(probe[perm]), self.logprobs(x)
        probed = torch.empty_like(permuted)
        probed[perm] = permuted
        diff = (scored.clamp(min=-LOGP_CLAMP) - probed.clamp(min=-LOGP_CLAMP)).abs().amax(dim=-1)
        diff[after] = 0.0
        worst = float(diff.max())
        if worst > self.atol:
            row, pos = divmod(int(diff.argmax()), context)
            raise Rejected(f"causality check failed: row {row}'s log-probabilities at position {pos} changed by "
                           f"{worst:.3g} nats when the bytes after position {int(cuts[row])} changed "
                           f"(tolerance {self.atol} nats)")
        return scored


def score(cfg: dict[str, Any], pipe: Pipe, started: float) -> dict[str, Any]:
    with open(cfg["val_path"], "rb") as handle:
        val = torch.frombuffer(bytearray(handle.read()), dtype=torch.uint8).long()
    context, batch = int(cfg["eval_context"]), int(cfg["eval_batch"])
    n_windows = (val.numel() - 1) // context
    if n_windows < 1:
        raise Rejected("the validation slice is shorter than one window")
    windows = torch.stack([val[i * context: i * context + context + 1] for i in range(n_windows)])
    kind, _ = pipe.frame(1 << 16)
    if kind != b"R":
        raise Rejected("the model server did not say ready")
    ready = time.monotonic()
    pipe.deadline = ready + float(cfg["max_seconds"]) + 1.0
    scorer = Scorer(cfg, pipe)
    order = torch.randperm(n_windows, generator=scorer.rng)
    per_window = torch.zeros(n_windows, dtype=torch.float64)  # summed in window order: independent of batching
    first: tuple[torch.Tensor, torch.Tensor] | None = None
    for start in range(0, n_windows, batch):
        idx = order[start:start + batch]
        real = idx.numel()
        if real < batch:
            idx = torch.cat([idx, order.repeat(batch // n_windows + 1)[: batch - real]])
        chunk = windows[idx]
        x, y = chunk[:, :-1], chunk[:, 1:]
        logp = scorer.checked(x)
        if first is None:
            first = (x, logp)
        nats = -logp[:real].gather(-1, y[:real, :, None])[..., 0]
        per_window[idx[:real]] = nats.double().sum(1)
        if time.monotonic() - ready > float(cfg["max_seconds"]):
            raise Rejected(f"evaluation took longer than {cfg['max_seconds']} s")
    assert first is not None
    again = scorer.logprobs(first[0])
    drift = float((again.clamp(min=-LOGP_CLAMP) - first[1].clamp(min=-LOGP_CLAMP)).abs().max())
    if drift > scorer.atol:
        raise Rejected(f"the model gave a different answer to the same batch later ({drift:.3g} nats): it keeps "
                       "state across calls")
    targets = n_windows * context
    val_bpb = float(per_window.sum()) / (math.log(2) * targets)
    if not math.isfinite(val_bpb):
        raise Rejected("val_bpb is not finite")
    return {"val_bpb": val_bpb, "target_bytes": targets, "forwards": scorer.forwards,
            "wait_seconds": round(ready - started, 3), "seconds": round(time.monotonic() - ready, 3)}


def write_result(path: str, record: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(record))
    os.replace(tmp, path)


def serve(score_fn: Callable[[dict[str, Any], Pipe, float], dict[str, Any]]) -> int:
    """The scorer's whole life, shared by every task's scorer: read the config named on the command line, score
    through the pipes with ``score_fn`` (``Rejected`` is a rejection, not a crash), write the result file."""
    with open(sys.argv[1], encoding="utf-8") as handle:
        cfg = json.loads(handle.read())
    torch.set_num_threads(max(1, int(cfg.get("threads", 1))))
    started = time.monotonic()
    parent = cfg.get("parent_pid")
    pipe = Pipe(cfg["to_model"], cfg["from_model"], started + float(cfg["wait_seconds"]) + float(cfg["max_seconds"]),
                parent if isinstance(parent, int) and not isinstance(parent, bool) else os.getppid())
    try:
        record: dict[str, Any] = {"status": "ok", **score_fn(cfg, pipe, started)}
    except Rejected as exc:
        record = {"status": "rejected", "reason": str(exc)}
    finally:
        pipe.close()
    write_result(cfg["result_path"], record)
    return 0


def main() -> int:
    return serve(score)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip torch's interpreter teardown: the runner is waiting for this process to end
