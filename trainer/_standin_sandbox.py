"""PRIVATE STAND-IN for trainer/sandbox.py until it lands: no isolation, only process group, rlimits, timeout.

Same names and fields as the pinned API in docs/architecture.md; used by runner.py only when ``trainer.sandbox`` cannot
be imported. Always reports ``sandboxed=False`` and refuses when a sandbox is required. Delete when sandbox.py exists.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from trainer.errors import SandboxUnavailable


@dataclass(frozen=True)
class SandboxSpec:
    workdir: Path
    ro_paths: tuple[Path, ...] = ()
    dev_paths: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    wall_timeout: float = 60.0
    cpu_seconds: int | None = None
    memory_bytes: int | None = None
    file_bytes: int = 256 << 20
    open_files: int = 256
    max_processes: int = 64
    output_bytes: int = 1 << 20
    stdin: bytes | None = None


@dataclass(frozen=True)
class SandboxResult:
    returncode: int | None
    timed_out: bool
    wall_seconds: float
    output_tail: str
    output_truncated: bool
    peak_rss_mb: float
    sandboxed: bool


def sandbox_available() -> tuple[bool, str]:
    return False, "trainer.sandbox is not installed yet (stand-in runner: no isolation)"


def run_sandboxed(argv: Sequence[str], spec: SandboxSpec, *, on_line: Callable[[str], None] | None = None,
                  require_sandbox: bool = True) -> SandboxResult:
    if require_sandbox:
        raise SandboxUnavailable(sandbox_available()[1])

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec.file_bytes, spec.file_bytes))
        if spec.memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (spec.memory_bytes, spec.memory_bytes))
        if spec.cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (spec.cpu_seconds, spec.cpu_seconds))

    started = time.monotonic()
    proc = subprocess.Popen(list(argv), cwd=spec.workdir, env=dict(spec.env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=limits)
    tail: deque[bytes] = deque()
    kept = [0, False]

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            tail.append(raw)
            kept[0] += len(raw)
            while kept[0] > spec.output_bytes and tail:
                kept[0] -= len(tail.popleft())
                kept[1] = True
            if on_line is not None:
                on_line(raw.decode("utf-8", "replace").rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=spec.wall_timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    reader.join(timeout=5)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return SandboxResult(
        returncode=None if timed_out else proc.returncode, timed_out=timed_out,
        wall_seconds=time.monotonic() - started, output_tail=b"".join(tail).decode("utf-8", "replace"),
        output_truncated=bool(kept[1]), peak_rss_mb=usage.ru_maxrss / 1024, sandboxed=False)
