"""The batch server: training batches served to train.py through a pipe, and counted here, outside its reach.

The training split is never bound into the training sandbox: the harness's ``train_batches`` asks this server (a
thread of the runner's process) for each batch over a pair of pipes, and the server alone decides whether the budget
allows it. So the steps and tokens of a run are counted where train.py cannot write, and a train.py that rewrites the
harness, or trains in its own loop, gets no more data than the budget allows (and on CPU no more CPU-seconds: the
supervisor kills the tree past the limit).

Wire (little-endian): the harness writes a request of 8 bytes, ``batch_size: u32, context: u32``; the server answers
one status byte: :data:`BATCH` followed by ``batch_size * (context + 1)`` bytes (rows of consecutive training bytes,
``x = row[:-1]``, ``y = row[1:]``), :data:`SPENT` (the budget is spent; asked again it answers the same), or
:data:`REFUSED` (a malformed request; the server then stops). Row starts are drawn from ``random.Random(seed)``: the
same seed gives the same batches, the paired-seed property.

A classify or rank run serves rows of its task instead (a :class:`Source`, :mod:`trainer.task_batches`): the same
request and status byte, the payload that source's docstring states.
"""

from __future__ import annotations

import logging
import mmap
import os
import random
import select
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

__all__ = ["BatchServer", "ServedCount", "Stop", "Source", "BATCH", "SPENT", "REFUSED", "REQUEST", "MAX_BATCH_BYTES"]

log = logging.getLogger(__name__)

REQUEST = struct.Struct("<II")
BATCH, SPENT, REFUSED = b"\x01", b"\x00", b"\x02"
MAX_BATCH_BYTES = 64 << 20  # one batch: far above any CPU batch, room for large GPU ones
_POLL = 0.2  # seconds between looks at the stop flag while waiting on a pipe

# (steps served, tokens served) -> True when the next batch of this many tokens would pass the budget
Stop = Callable[[int, int, int], bool]


class Source(Protocol):
    """Batches of a task other than lm: a refusal reason for a request, else its payload (after the BATCH byte)."""

    def refusal(self, batch_size: int, context: int) -> str: ...

    def payload(self, rng: random.Random, batch_size: int, context: int) -> bytes: ...


@dataclass(frozen=True)
class ServedCount:
    """What the server handed out: the run's steps and tokens, as the runner records them."""

    steps: int
    tokens: int
    spent: bool  # it answered SPENT at least once (the budget, not train.py, ended the data)
    refused: str  # why it stopped on a malformed request ("" when it did not)


class BatchServer:
    """Serves one run's batches from ``train_path`` on a thread; :meth:`child_fds` go to the sandbox."""

    def __init__(self, train_path: Path, seed: int, stop: Stop,
                 on_batch: Callable[[int, int], None] | None = None, source: Source | None = None) -> None:
        self._path = Path(train_path)
        self._source = source
        self._rng = random.Random(seed)
        self._stop = stop
        self._on_batch = on_batch
        self._req_r, self._req_w = os.pipe()
        self._rep_r, self._rep_w = os.pipe()
        for fd in (self._req_r, self._rep_w):
            os.set_blocking(fd, False)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="swarm-batches", daemon=True)
        self._steps = 0
        self._tokens = 0
        self._spent = False
        self._refused = ""
        self._lock = threading.Lock()

    def child_fds(self) -> tuple[int, int]:
        """(request write end, reply read end): passed into the sandbox at these numbers."""
        return self._req_w, self._rep_r

    def start(self) -> None:
        for fd in self.child_fds():
            os.set_inheritable(fd, True)
        self._thread.start()

    def count(self) -> ServedCount:
        with self._lock:
            return ServedCount(self._steps, self._tokens, self._spent, self._refused)

    def close(self) -> ServedCount:
        """Stop serving (the sandbox has ended), join the thread, close the pipes; the final count."""
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        for fd in (self._req_r, self._req_w, self._rep_r, self._rep_w):
            try:
                os.close(fd)
            except OSError:
                pass
        return self.count()

    # ------------------------------------------------------------------ the serving thread

    def _serve(self) -> None:
        if self._source is not None:
            try:
                self._loop(b"", 0)
            except Exception:  # noqa: BLE001 - the run then ends for lack of data; never the runner's thread
                log.exception("batch server failed")
            return
        try:
            with open(self._path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            try:
                self._loop(data, size)
            finally:
                if isinstance(data, mmap.mmap):
                    data.close()
        except Exception:  # noqa: BLE001 - the run then ends for lack of data; never the runner's thread
            log.exception("batch server failed")

    def _loop(self, data: mmap.mmap | bytes, size: int) -> None:
        while True:
            request = self._read_exact(REQUEST.size)
            if request is None:
                return
            batch_size, context = REQUEST.unpack(request)
            row = context + 1
            refusal = ""
            if self._source is not None:
                refusal = self._source.refusal(batch_size, context)
            elif batch_size < 1 or context < 1 or row >= size or batch_size * row > MAX_BATCH_BYTES:
                refusal = (f"train_batches({batch_size}, {context}) refused: needs 1 <= context < "
                           f"{size - 1} and batch_size * (context + 1) <= {MAX_BATCH_BYTES}")
            if refusal:
                with self._lock:
                    self._refused = refusal
                self._write(REFUSED)
                return
            tokens = batch_size * context
            with self._lock:
                steps, served = self._steps, self._tokens
            if self._stop(steps, served, tokens):
                with self._lock:
                    self._spent = True
                if not self._write(SPENT):
                    return
                continue
            if self._source is not None:
                payload = self._source.payload(self._rng, batch_size, context)
            else:
                starts = [self._rng.randrange(0, size - row) for _ in range(batch_size)]
                payload = b"".join(data[s:s + row] for s in starts)
            with self._lock:
                self._steps += 1
                self._tokens += tokens
                steps, served = self._steps, self._tokens
            if self._on_batch is not None:
                try:
                    self._on_batch(steps, served)
                except Exception:  # noqa: BLE001 - a broken progress bar must not stop the data
                    log.exception("batch callback failed")
            if not self._write(BATCH + payload):
                return

    def _read_exact(self, n: int) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            if self._closing.is_set():
                return None
            ready, _, _ = select.select([self._req_r], [], [], _POLL)
            if not ready:
                continue
            try:
                chunk = os.read(self._req_r, n - len(buf))
            except BlockingIOError:
                continue
            if not chunk:
                return None  # every writer is gone: the sandbox ended
            buf += chunk
        return bytes(buf)

    def _write(self, payload: bytes) -> bool:
        view = memoryview(payload)
        while view:
            if self._closing.is_set():
                return False
            _, ready, _ = select.select([], [self._rep_w], [], _POLL)
            if not ready:
                continue
            try:
                written = os.write(self._rep_w, view[:1 << 16])
            except BlockingIOError:
                continue
            except OSError:  # no reader left
                return False
            view = view[written:]
        return True

