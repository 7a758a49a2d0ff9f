"""A ``python -m node ...`` process for integration tests, its stdout lines collected as they come."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Sequence

from tests.integration.nodeproc import ROOT

__all__ = ["Cli", "PARALLEL"]

# One run in flight at a time unless a test says otherwise: these tests count the steps, prompts and Results of the
# sequential loop (and CI has 2 cores); the runs of a step in flight together are coordinator/runs.py's, tested with
# the Researcher (tests/unit/coordinator/test_researcher.py).
PARALLEL = {"SWARM_NODE_PARALLEL": "1"}


class Cli:
    """A ``python -m node ...`` process whose stdout lines are collected as they come."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, wrap: Sequence[str] = ()) -> None:
        """``wrap``: a prefix for the command line (``ip netns exec NS``: it runs in that namespace)."""
        self.proc = subprocess.Popen([*wrap, sys.executable, "-m", "node", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **PARALLEL, **(env or {})})
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def line_with(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.out.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} in {timeout}s; got {self.out}; rc={self.proc.poll()}")

    def interrupt(self, timeout: float = 45) -> tuple[int, str]:
        """Ctrl-C, then wait for the exit (0.3 s on a quiet machine; over 20 s seen with other test runs beside it)."""
        self.proc.send_signal(signal.SIGINT)  # nothing when it has exited already
        return self.finish(timeout)

    @staticmethod
    def interrupt_all(clis: Sequence[Cli], timeout: float = 45) -> list[tuple[int, str]]:
        """Ctrl-C every process at once, so that their shutdowns overlap, then wait for each: (exit code, stderr).
        One Ctrl-C each: a second one could land after a node's signal handler is gone, as a KeyboardInterrupt."""
        for cli in clis:
            cli.proc.send_signal(signal.SIGINT)
        return [cli.finish(timeout) for cli in clis]

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the process to end by itself (e.g. after ``--max-experiments``); its exit code and stderr."""
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err
