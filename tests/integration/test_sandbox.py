"""The sandbox runs real commands: exit codes, output, lines, stdin, environment, torch, the fallback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

import trainer.sandbox as sandbox
import trainer.sandbox_io as sandbox_io
from trainer.cpuclock import TreeClock
from trainer.errors import SandboxUnavailable
from trainer.sandbox import SandboxResult, SandboxSpec, run_sandboxed, sandbox_available

from tests.integration.hogs import busy_loops

AVAILABLE, WHY = sandbox_available()
needs_bwrap = pytest.mark.skipif(not AVAILABLE, reason=f"sandbox unavailable here: {WHY}")


def py(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


@needs_bwrap
def test_exit_code_output_lines_and_stdin(tmp_path: Path) -> None:
    lines: list[str] = []
    code = "import sys, time; data = sys.stdin.read(); print('got', len(data)); print('oops', file=sys.stderr); " \
           "time.sleep(0.5); sys.exit(3)"  # the sleep: the tree's RSS is sampled every 100 ms
    spec = SandboxSpec(workdir=tmp_path / "w", stdin=b"z" * 200_000, wall_timeout=20)
    result = run_sandboxed(py(code), spec, on_line=lines.append)
    assert result.sandboxed and not result.timed_out
    assert result.returncode == 3
    assert lines == ["got 200000"]
    assert "got 200000" in result.output_tail and "oops" in result.output_tail
    assert not result.output_truncated and result.peak_rss_mb > 1


@needs_bwrap
def test_inside_view_env_cleared_workdir_writable_pid_namespace(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "data.txt").write_text("readable")
    code = """
import json, os
import getpass
out = {"env": dict(os.environ), "cwd": os.getcwd(), "root": sorted(os.listdir("/")), "user": getpass.getuser(),
       "pids": [p for p in os.listdir("/proc") if p.isdigit()], "data": open(%r).read(), "uid": os.getuid()}
open("made.txt", "w").write("ok")
try:
    open(%r, "w").write("no")
    out["ro_write"] = "written"
except OSError as exc:
    out["ro_write"] = exc.strerror
print(json.dumps(out))
""" % (str(ro / "data.txt"), str(ro / "new.txt"))
    spec = SandboxSpec(workdir=tmp_path / "w", ro_paths=(ro,), env={"PATH": "/usr/bin", "SEED": "7"}, wall_timeout=20)
    result = run_sandboxed(py(code), spec)
    assert result.returncode == 0, result.output_tail
    seen = json.loads(result.output_tail.strip().splitlines()[-1])
    assert {k: v for k, v in seen["env"].items() if k not in ("PWD", "LC_CTYPE")} == {"PATH": "/usr/bin", "SEED": "7"}
    assert "sk-must-not-leak" not in result.output_tail
    assert seen["cwd"] == str(tmp_path / "w") and (tmp_path / "w" / "made.txt").read_text() == "ok"
    assert seen["data"] == "readable" and seen["ro_write"] == "Read-only file system"
    assert seen["user"] in ("root", "sandbox")
    assert not (ro / "new.txt").exists()
    assert len(seen["pids"]) <= 4  # bwrap's reaper and the command: no host process is visible
    assert "home" not in seen["root"] or not any(Path("/home").iterdir())


@needs_bwrap
def test_torch_imports_inside(tmp_path: Path) -> None:
    code = "import torch; print('sum', float(torch.ones(4, 4).sum()))"
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=60, memory_bytes=4 << 30))
    assert result.returncode == 0, result.output_tail
    assert "sum 16.0" in result.output_tail


@needs_bwrap
def test_wall_timeout_kills_the_tree_and_reports_it(tmp_path: Path) -> None:
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); " \
           "print('started', flush=True); time.sleep(60)"
    start = time.monotonic()
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=1.5))
    elapsed = time.monotonic() - start
    assert result.timed_out and result.returncode is None
    assert 1.5 <= result.wall_seconds < 3.0 and elapsed < 3.5
    assert "started" in result.output_tail


def test_fallback_without_bubblewrap(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sandbox, "sandbox_available", lambda: (False, "bwrap missing (test)"))
    with pytest.raises(SandboxUnavailable, match="bwrap missing"):
        run_sandboxed(py("print(1)"), SandboxSpec(workdir=tmp_path / "w"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    code = "import os; print(sorted(os.environ)); print(os.getcwd())"
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", env={"A": "1"}), require_sandbox=False)
    assert result.returncode == 0 and not result.sandboxed
    assert "['A'" in result.output_tail and "sk-must-not-leak" not in result.output_tail
    assert str(tmp_path / "w") in result.output_tail
    slow = run_sandboxed(py("import time; time.sleep(30)"), SandboxSpec(workdir=tmp_path / "w", wall_timeout=0.5),
                         require_sandbox=False)
    assert slow.timed_out and slow.returncode is None and slow.wall_seconds < 2.0


@needs_bwrap
def test_limits_are_set_from_a_worker_thread_without_preexec_fn(tmp_path: Path, monkeypatch) -> None:
    seen: list[object] = []
    real_popen = subprocess.Popen

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(kwargs.get("preexec_fn"))
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(sandbox_io.subprocess, "Popen", spy)
    spec = SandboxSpec(workdir=tmp_path / "w", cpu_seconds=7, memory_bytes=3 << 30, wall_timeout=30)
    box: dict[str, SandboxResult] = {}
    worker = threading.Thread(target=lambda: box.update(r=run_sandboxed(["/bin/cat", "/proc/self/limits"], spec)))
    worker.start()
    worker.join(timeout=60)
    assert seen and all(fn is None for fn in seen)
    limits = box["r"].output_tail
    assert re.search(r"Max cpu time\s+7\s+8\s+seconds", limits), limits
    assert re.search(rf"Max address space\s+{3 << 30}\s+{3 << 30}", limits)
    assert re.search(r"Max core file size\s+0\s+0", limits)


@pytest.mark.parametrize("use_cgroup", [True, False])
def test_cpu_of_the_whole_tree_is_counted_outside_and_enforced(tmp_path: Path, use_cgroup: bool) -> None:
    code = "import os\nos.fork()\nwhile True:\n    pass\n"  # two spinning processes
    clock = TreeClock(use_cgroup=use_cgroup)
    spec = SandboxSpec(workdir=tmp_path / "w", wall_timeout=60, cpu_kill_at=1.5, cpu_clock=clock)
    result = run_sandboxed(py(code), spec, require_sandbox=AVAILABLE)
    assert result.killed_for_cpu and result.returncode is None and not result.timed_out
    assert 1.5 <= result.cpu_seconds <= 1.5 + 1.2, result.cpu_seconds  # + one sampling period of two processes
    assert "[sandbox] killed: " in result.output_tail and "CPU-seconds" in result.output_tail
    assert result.cpu_clock == clock.source


def _pinned(code: str) -> str:
    """``code`` run on CPU 0 only, where the test's hogs also run (so its share of the CPU is known)."""
    return f"import os\nos.sched_setaffinity(0, {{0}})\n{code}"


@pytest.fixture
def pinned_hogs() -> Iterator[None]:
    """Four busy loops on CPU 0: a command pinned there gets about a fifth of it, whatever else the machine does."""
    with busy_loops(4, cpu=0, own_sessions=True):
        yield


@needs_bwrap
def test_waiting_for_a_cpu_stretches_the_wall_net_but_sleeping_does_not(tmp_path: Path, pinned_hogs: None) -> None:
    """A laptop busy with other work: an honest CPU-budget run that gets a fifth of a core needs five times its
    budget in wall time. The wall net is there for a tree that stops using its CPU (sleeps, blocks), so the time the
    tree waited for a CPU does not count towards it (up to ``wall_stretch`` times); sleeping still does."""
    work = _pinned("import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\nprint('done')")
    spec = SandboxSpec(workdir=tmp_path / "busy", wall_timeout=2.0, cpu_kill_at=30.0, wall_stretch=20.0)
    result = run_sandboxed(py(work), spec)
    assert result.wall_seconds > 3.0, f"the hogs did not slow the run ({result.wall_seconds:.1f} s): the test is void"
    assert not result.timed_out and result.returncode == 0, result.output_tail
    assert "done" in result.output_tail
    assert result.waited_seconds > 1.0, result.waited_seconds

    sleeper = SandboxSpec(workdir=tmp_path / "sleep", wall_timeout=2.0, cpu_kill_at=30.0, wall_stretch=20.0)
    slept = run_sandboxed(py(_pinned("import time\ntime.sleep(30)")), sleeper)
    assert slept.timed_out and slept.returncode is None
    assert slept.wall_seconds < 8.0, f"a sleeping tree outlived its wall net: {slept.wall_seconds:.1f} s"
