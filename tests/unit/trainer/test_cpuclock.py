"""The CPU clock read from outside a process tree, and the launcher that sets limits without preexec_fn."""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

from trainer.cpuclock import TreeClock, proc_cpu_seconds
from trainer.rlimits import LIMITS_LAUNCHER, RlimitPlan


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_proc_clock_counts_this_process_and_never_goes_back() -> None:
    clock = TreeClock(use_cgroup=False)
    assert clock.open() == () and not clock.exact and clock.source == "/proc tree"
    before = clock.sample([os.getpid()])
    _burn(0.3)
    after = clock.sample([os.getpid()])
    assert after - before >= 0.2
    assert clock.sample([]) == after  # a tree that vanished keeps its high-water mark
    clock.finished(after + 5.0)  # the reaped child's rusage can only raise it
    assert clock.used() == after + 5.0
    assert proc_cpu_seconds([2**22 + 12345]) == 0.0  # a pid that does not exist counts nothing
    clock.close()


def test_launcher_carries_the_limits_and_cgroups_on_the_command_line(tmp_path: Path) -> None:
    plan = RlimitPlan(cpu_seconds=30, memory_bytes=1 << 30, file_bytes=1 << 20, open_files=128)
    procs = tmp_path / "cgroup.procs"
    argv = plan.launcher(["bwrap", "--", "python", "train.py"], [procs])
    assert argv[:5] == [sys.executable, "-I", "-S", "-c", LIMITS_LAUNCHER]
    assert argv[5:7] == ["1", str(procs)]
    triples = {int(t.split(":")[0]): t for t in argv[8:8 + int(argv[7])]}
    assert triples[resource.RLIMIT_CPU] == f"{resource.RLIMIT_CPU}:30:31"  # SIGXCPU, then SIGKILL a second later
    assert triples[resource.RLIMIT_AS] == f"{resource.RLIMIT_AS}:{1 << 30}:{1 << 30}"
    assert argv[8 + int(argv[7]):] == ["bwrap", "--", "python", "train.py"]
    compile(LIMITS_LAUNCHER, "<launcher>", "exec")
