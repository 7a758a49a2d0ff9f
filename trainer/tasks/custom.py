"""The custom task's evaluator: the seeder's evaluate.py, untrusted code for every joiner, in its own sandbox.

A custom task trains an lm-shaped model (the harness serves text windows as for lm; the model maps int64 [B, T]
to logits [B, T, 256]) and scores it with the seeder's ``evaluate.py``, run after training as::

    python -u evaluate.py MODEL_PATH VAL_PATH

in a sandbox of its own (:func:`trainer.sandbox.run_sandboxed`: no network, no node files, only the Python
environment read-only and its own work dir, which holds copies of evaluate.py, the exported model (``model.ts``:
TorchScript, ``torch.jit.load``; or ``model.pt2``: ``torch.export.load``) and the val split ``val.bin``), within
:data:`CUSTOM_EVAL_SECONDS` and the memory limit. The last non-empty line it prints must be one finite number: the
score. A crash, a timeout, a missing, unreadable or non-finite number is a crash result with the reason, never a
score.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

from trainer.evaluator import EvalResult
from trainer.sandbox import SandboxSpec, run_sandboxed

__all__ = ["CustomEvaluation", "run_custom_evaluator", "CUSTOM_EVAL_SECONDS", "parse_score"]

CUSTOM_EVAL_SECONDS = 300.0
CUSTOM_OUTPUT_BYTES = 64 << 10


def parse_score(output: str) -> tuple[float | None, str]:
    """(the score, "") from evaluate.py's output, or (None, why not)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return None, "evaluate.py printed nothing; its last line must be one number"
    last = lines[-1][:200]
    try:
        value = float(last)
    except ValueError:
        return None, f"evaluate.py's last line is not a number: {last!r}"
    if not math.isfinite(value):
        return None, f"evaluate.py printed {last!r}: a score must be a finite number"
    return value, ""


def run_custom_evaluator(source: str, model: Path, fmt: str, val_path: Path, work: Path, *,
                         readable: tuple[Path, ...] = (), memory: int | None = None, require_sandbox: bool = True,
                         max_seconds: float = CUSTOM_EVAL_SECONDS, metric: str = "score") -> EvalResult:
    """Run ``source`` on the model and the val split in a fresh sandbox under ``work``; its score or a reason."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "evaluate.py").write_text(source, encoding="utf-8")
    model_copy = work / ("model.ts" if fmt == "torchscript" else "model.pt2")
    shutil.copyfile(model, model_copy)
    shutil.copyfile(val_path, work / "val.bin")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
           "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    spec = SandboxSpec(workdir=work, ro_paths=readable, env=env, wall_timeout=max_seconds, memory_bytes=memory,
                       file_bytes=64 << 20, output_bytes=CUSTOM_OUTPUT_BYTES)
    argv = [sys.executable, "-u", str(work / "evaluate.py"), str(model_copy), str(work / "val.bin")]
    result = run_sandboxed(argv, spec, require_sandbox=require_sandbox)
    tail = [line for line in result.output_tail.strip().splitlines() if line.strip()][-1:]
    last = tail[0][:300] if tail else "no output"
    if result.timed_out:
        return EvalResult(None, f"evaluate.py timed out after {max_seconds:.0f} s", result.wall_seconds,
                          result.sandboxed)
    if result.returncode != 0:
        return EvalResult(None, f"evaluate.py exited with code {result.returncode}: {last}", result.wall_seconds,
                          result.sandboxed)
    value, why = parse_score(result.output_tail)
    if value is None:
        return EvalResult(None, why, result.wall_seconds, result.sandboxed)
    return EvalResult(None, "", result.wall_seconds, result.sandboxed, 1, ((metric, value),))


class CustomEvaluation:
    """The runner's handle on a custom evaluator (the same calls as :class:`trainer.evaluator.Evaluation`)."""

    def __init__(self, source: str, metric: str, *, val_path: Path, run_dir: Path, readable: tuple[Path, ...],
                 memory: int | None, require_sandbox: bool, max_seconds: float = CUSTOM_EVAL_SECONDS) -> None:
        self.source, self.metric = source, metric
        self.val_path, self.work = val_path, run_dir / "custom"
        self.readable, self.memory = readable, memory
        self.require_sandbox, self.max_seconds = require_sandbox, max_seconds
        self.model: tuple[Path, str] | None = None

    def start(self) -> None:
        """Nothing runs before the model is exported."""

    def go(self, model: Path, fmt: str, device: str) -> None:
        if self.model is None:
            self.model = (model, fmt)

    def abort(self) -> None:
        self.model = None

    def result(self) -> EvalResult:
        if self.model is None:
            return EvalResult(None, "no model to evaluate", 0.0, False)
        return run_custom_evaluator(self.source, self.model[0], self.model[1], self.val_path, self.work,
                                    readable=self.readable, memory=self.memory, require_sandbox=self.require_sandbox,
                                    max_seconds=self.max_seconds, metric=self.metric)
