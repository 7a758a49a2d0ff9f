"""The locked evaluator, runner side: the model server in its sandbox, the scorer beside it, the score from a file.

Two processes per run (both import torch while training still runs, started half-way through the budget):

- the **model server** (``locked/model_server.py``) in the evaluator's sandbox: it sees the Python environment, the
  locked folder, train.py's work folder read-only (the exported model) and its own folder ``eval/`` with two FIFOs;
  no val file, no targets. It checks the model's graph against the op allowlist and runs forwards on request.
- the **scorer** (``trainer/locked/evaluate.py``, run from the installed package, not from the run folder): the only
  process with the val slice; it sends input bytes, gets logits, runs the causality and state checks, computes
  val_bpb and writes it to ``score/result.json``. ``score/`` is bound into no sandbox, and the runner reads it only
  after both processes ended; nothing printed on any stdout is believed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from trainer.locked import EVALUATOR_PATH
from trainer.sandbox import SandboxResult, SandboxSpec, run_sandboxed

__all__ = ["Evaluation", "EvalResult", "EVAL_MAX_SECONDS"]

log = logging.getLogger(__name__)

EVAL_MAX_SECONDS = 240.0  # the scorer's own time, from the model server's ready to the last batch (2 forwards a batch)
LOAD_SECONDS = 60.0  # model load + graph check, after training ended


@dataclass(frozen=True)
class EvalResult:
    """What the scorer wrote: ``val_bpb`` or the reason it refused; ``seconds``: its own scoring time."""

    val_bpb: float | None
    reason: str
    seconds: float
    sandboxed: bool
    forwards: int = 0
    metrics: tuple[tuple[str, float], ...] = ()  # classify/rank: every metric the scorer computed (lm: val_bpb)


class Evaluation:
    """One run's evaluator: :meth:`start` (early), :meth:`go` or :meth:`abort`, then :meth:`result`."""

    def __init__(self, *, locked: Path, evald: Path, score_dir: Path, readable: tuple[Path, ...], val_path: Path,
                 cfg: Mapping[str, Any], env: Mapping[str, str], train_wall: float, memory: int | None,
                 dev_paths: tuple[str, ...], require_sandbox: bool, scorer_path: Path = EVALUATOR_PATH,
                 server_extra: Mapping[str, Any] | None = None, scorer_extra: Mapping[str, Any] | None = None) -> None:
        """``scorer_path``: the scorer script (lm: ``evaluate.py``; classify/rank: ``evaluate_task.py``);
        ``server_extra`` / ``scorer_extra``: task settings added to each process's config."""
        self.evald, self.score_dir = evald, score_dir
        self.go_path = evald / "go.json"
        self.to_model, self.from_model = evald / "to_model.fifo", evald / "from_model.fifo"
        self.result_path = score_dir / "result.json"
        self.require_sandbox = require_sandbox
        self.wait_seconds = train_wall + LOAD_SECONDS
        common = {"eval_context": cfg["eval_context"], "eval_batch": cfg["eval_batch"], "threads": cfg["threads"],
                  "to_model": str(self.to_model), "from_model": str(self.from_model)}
        server_cfg = {**common, "device": cfg["device"], "go_path": str(self.go_path),
                      "wait_seconds": self.wait_seconds, **(server_extra or {})}
        scorer_cfg = {**common, "val_path": str(val_path), "result_path": str(self.result_path),
                      "parent_pid": os.getpid(),
                      "wait_seconds": self.wait_seconds, "max_seconds": EVAL_MAX_SECONDS, **(scorer_extra or {})}
        self.scorer_path = scorer_path
        self.server_cfg_path = locked / "model_server.json"
        self.server_cfg_path.write_text(json.dumps(server_cfg))
        self.scorer_cfg_path = score_dir / "scorer.json"
        self.scorer_cfg_path.write_text(json.dumps(scorer_cfg))
        self.server_argv = [sys.executable, "-u", str(locked / "model_server.py"), str(self.server_cfg_path)]
        self.spec = SandboxSpec(workdir=evald, ro_paths=readable, dev_paths=dev_paths, env=dict(env),
                                wall_timeout=self.wait_seconds + EVAL_MAX_SECONDS + 30, memory_bytes=memory,
                                file_bytes=16 << 20, output_bytes=64 << 10)
        self.scorer_env = {k: v for k, v in env.items() if k not in ("SWARM_HARNESS_CONFIG", "PYTHONPATH")}
        self.scorer_env.update(HOME=str(score_dir), TMPDIR=str(score_dir))  # nothing of the model server's folder
        self.lock = threading.RLock()
        self.box: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._serve, name="swarm-model-server", daemon=True)
        self.scorer: subprocess.Popen[bytes] | None = None
        os.mkfifo(self.to_model, 0o600)
        os.mkfifo(self.from_model, 0o600)

    def _serve(self) -> None:
        try:
            self.box["result"] = run_sandboxed(self.server_argv, self.spec, require_sandbox=self.require_sandbox)
        except Exception as exc:  # noqa: BLE001 - reported in the result
            self.box["error"] = exc

    def start(self) -> None:
        """Start both processes (idempotent): their imports overlap the rest of the training."""
        with self.lock:
            if "started" in self.box:
                return
            self.box["started"] = time.monotonic()
            with (self.score_dir / "scorer.log").open("wb") as log_file:
                self.scorer = subprocess.Popen(
                    [sys.executable, "-u", str(self.scorer_path), str(self.scorer_cfg_path)], stdin=subprocess.DEVNULL,
                    stdout=log_file, stderr=subprocess.STDOUT, env=self.scorer_env, cwd=self.score_dir,
                    start_new_session=True)
            self.thread.start()

    @property
    def started(self) -> bool:
        return "started" in self.box

    def go(self, model: Path, fmt: str, device: str) -> None:
        with self.lock:
            if "go" in self.box:
                return
            self.box["go"] = True
            self.start()
            _write_atomic(self.go_path, {"model": str(model), "format": fmt, "device": device})

    def abort(self) -> None:
        """No model to score: both processes end (the model server on the go file, the scorer is killed)."""
        with self.lock:
            if "go" not in self.box:
                self.box["go"] = False
                _write_atomic(self.go_path, {"abort": True})
        if self.scorer is not None and self.scorer.poll() is None:
            self.scorer.kill()
            self.scorer.wait()
        if self.thread.is_alive():
            self.thread.join(timeout=self.spec.wall_timeout + 30)

    def result(self) -> EvalResult:
        """Wait for both processes, then read the scorer's file (the only place a score comes from)."""
        self.thread.join(timeout=self.spec.wall_timeout + 30)
        if self.scorer is not None:
            try:
                self.scorer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.scorer.kill()
                self.scorer.wait()
        server: SandboxResult | None = self.box.get("result")
        sandboxed = server is not None and server.sandboxed
        if "error" in self.box:
            return EvalResult(None, f"evaluator could not run: {self.box['error']}", 0.0, False)
        try:
            record = json.loads(self.result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return EvalResult(None, "evaluator did not finish: the scorer wrote no result", 0.0, sandboxed)
        if record.get("status") != "ok":
            reason = str(record.get("reason", "no reason"))
            if "exited before it answered" in reason and server is not None:
                tail = [line for line in server.output_tail.strip().splitlines() if line.strip()][-1:]
                why = "timed out" if server.timed_out else f"exit code {server.returncode}"
                reason += f" ({why}; its last line: {tail[0][:300] if tail else 'none'})"
            return EvalResult(None, f"evaluator rejected the model: {reason}", 0.0, sandboxed)
        if "metrics" in record:
            return _task_result(record, sandboxed)
        val_bpb = record.get("val_bpb")
        if isinstance(val_bpb, bool) or not isinstance(val_bpb, (int, float)) or not math.isfinite(val_bpb) \
                or val_bpb < 0:
            return EvalResult(None, "evaluator output unreadable", 0.0, sandboxed)
        return EvalResult(float(val_bpb), "", float(record.get("seconds", 0.0)), sandboxed,
                          int(record.get("forwards", 0)))


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _task_result(record: dict[str, Any], sandboxed: bool) -> EvalResult:
    metrics = record.get("metrics")
    if not isinstance(metrics, dict) or not metrics or not all(
            isinstance(k, str) and _finite(v) for k, v in metrics.items()):
        return EvalResult(None, "evaluator output unreadable", 0.0, sandboxed)
    seconds = record.get("seconds", 0.0)
    return EvalResult(None, "", float(seconds) if _finite(seconds) else 0.0, sandboxed,
                      int(record.get("forwards", 0)), tuple(sorted((k, float(v)) for k, v in metrics.items())))


def _write_atomic(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
