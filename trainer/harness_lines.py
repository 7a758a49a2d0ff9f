"""What the runner reads from a sandboxed run's output: the harness's ``@@swarm`` lines, the log tail and the crash
reason (every other line is train.py's own, shown to the user, never trusted as a figure)."""

from __future__ import annotations

import json
import logging
from typing import Any, Callable

from trainer.pacing import Progress

__all__ = ["HarnessLines", "log_tail", "crash_reason", "LOG_TAIL_CHARS"]

log = logging.getLogger(__name__)

LOG_TAIL_CHARS = 4000


class HarnessLines:
    """Collects the harness's ``@@swarm`` lines from one sandboxed process and forwards progress."""

    def __init__(self, progress: Callable[[Progress], None] | None,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_submitted: Callable[[], None] | None = None) -> None:
        self.progress = progress
        self.on_progress = on_progress
        self.on_submitted = on_submitted
        self.last: dict[str, dict[str, Any]] = {}

    def __call__(self, line: str) -> None:
        if not line.startswith("@@swarm "):
            return
        try:
            record = json.loads(line[8:])
            kind = str(record["kind"])
        except (ValueError, KeyError, TypeError):
            return
        if kind == "progress":
            try:
                p = Progress(int(record["step"]), int(record["tokens"]), float(record["elapsed"]),
                             float(record["fraction"]))
            except (KeyError, TypeError, ValueError, OverflowError):
                return
            self.last[kind] = record
            if self.on_progress is not None:
                self.on_progress(p)
            if self.progress is not None:
                try:
                    self.progress(p)
                except Exception:  # noqa: BLE001 - a broken progress bar must not break the experiment
                    log.exception("progress callback failed")
            return
        self.last[kind] = record
        if kind == "submitted" and self.on_submitted is not None:
            self.on_submitted()


def log_tail(output: str) -> str:
    lines = [line for line in output.splitlines() if not line.startswith("@@swarm ")]
    return "\n".join(lines)[-LOG_TAIL_CHARS:]


def crash_reason(output: str, returncode: int | None) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith("@@swarm ")]
    last = lines[-1][:300] if lines else "no output"
    return f"train.py exited with code {returncode}: {last}"
