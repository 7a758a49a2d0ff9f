"""CPU hogs for the tests that run real work beside other work: busy loops, killed and reaped on exit."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Iterator


@contextlib.contextmanager
def busy_loops(count: int, *, cpu: int | None = None, own_sessions: bool = False) -> Iterator[None]:
    """``count`` Python busy loops for the duration of the block; with ``cpu``, each pinned to that CPU only.

    ``own_sessions``: each loop in a session of its own. With ``sched_autogroup`` (on by default in many kernels) the
    scheduler shares a CPU between sessions first, so loops in the test's session count as ONE competitor for a
    sandboxed run (which has a session of its own), not ``count``."""
    pin = "" if cpu is None else f"import os; os.sched_setaffinity(0, {{{cpu}}})\n"
    procs = [subprocess.Popen([sys.executable, "-c", f"{pin}while True: pass"], start_new_session=own_sessions)
             for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
