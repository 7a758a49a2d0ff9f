"""Hostile train.py files through run_experiment: each is recorded as crash or timeout, and the machine is unharmed.

The kill margin past the budget is shortened for these tests (``runner.wall_margin``), and the CPU start-up allowance
(``limits.STARTUP_CPU_CAP``), so that a timeout costs seconds, not the production margins; everything else is the real runner, the real sandbox and the real data split.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import psutil
import pytest

import trainer.limits as limits
import trainer.runner as runner
from trainer import Budget, DataSet, RunSummary, builtin_dataset, run_experiment, sandbox_available
from trainer.limits import Clock, cpu_grace

AVAILABLE, WHY = sandbox_available()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not AVAILABLE, reason=f"sandbox unavailable here: {WHY}")]

MARGIN = 2.0  # seconds past the budget before the kill, in these tests only
SECRET = "SECRET-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[DataSet, Path]:
    cache = tmp_path_factory.mktemp("cache")
    dataset = builtin_dataset()
    dataset.prepare(cache)
    return dataset, cache


@pytest.fixture(autouse=True)
def short_margin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(runner, "wall_margin", lambda budget: MARGIN)
    monkeypatch.setattr(limits, "STARTUP_CPU_CAP", 1.0)  # none of these needs a real start-up allowance
    yield


def run(tmp_path: Path, data: tuple[DataSet, Path], source: str, budget: str = "1s",
        clock: Clock | None = None) -> RunSummary:
    dataset, cache = data
    summary = run_experiment(source, dataset, Budget.parse(budget), work_root=tmp_path / "runs", cache_dir=cache,
                             require_sandbox=True, clock=clock)
    assert summary.sandboxed
    assert summary.status in ("crash", "timeout"), summary
    assert summary.val_bpb is None
    assert psutil.Process().children(recursive=True) == []  # nothing of the run survives it
    assert subprocess.run(["true"], timeout=10).returncode == 0  # and this process can still start one
    return summary


def test_network_and_host_unix_socket(tmp_path: Path, data: tuple[DataSet, Path]) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    unix_path = tmp_path / "host.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(unix_path))
    unix.listen()
    for s in (listener, unix):
        s.setblocking(False)
    source = f"""
import socket, sys
for target in (("127.0.0.1", {listener.getsockname()[1]}),):
    try:
        socket.create_connection(target, timeout=1); print("TCP CONNECTED")
    except OSError as exc:
        print("tcp blocked:", type(exc).__name__)
try:
    s = socket.socket(socket.AF_UNIX); s.connect({str(unix_path)!r}); print("UNIX CONNECTED")
except OSError as exc:
    print("unix blocked:", type(exc).__name__)
sys.exit(1)
"""
    try:
        summary = run(tmp_path, data, source)
        for s in (listener, unix):
            with pytest.raises(BlockingIOError):
                s.accept()
    finally:
        listener.close()
        unix.close()
    assert summary.status == "crash"
    assert "tcp blocked" in summary.log_tail and "unix blocked" in summary.log_tail
    assert "CONNECTED" not in summary.log_tail


def test_node_key_and_api_keys_are_out_of_reach(tmp_path: Path, data: tuple[DataSet, Path], node_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    (node_home / "identity.key").write_text(SECRET)
    source = f"""
import os
print("env:", sorted(os.environ.items()))
for path in ({str(node_home / "identity.key")!r}, os.path.expanduser("~/.swarm-node/identity.key")):
    try:
        print("LEAKED:", open(path).read())
    except OSError as exc:
        print("denied:", type(exc).__name__)
raise SystemExit(2)
"""
    summary = run(tmp_path, data, source)
    assert summary.status == "crash"
    assert SECRET not in summary.log_tail and "LEAKED:" not in summary.log_tail
    assert summary.log_tail.count("denied:") == 2


def test_writes_outside_its_work_dir_and_to_the_harness(tmp_path: Path, data: tuple[DataSet, Path],
                                                       node_home: Path) -> None:
    name = "swarm-escape-" + uuid.uuid4().hex
    dataset, cache = data
    targets = [tmp_path / name, node_home / name, Path("/tmp") / name, cache / name]
    source = f"""
import glob, os
harness = [p for p in os.environ["PYTHONPATH"].split(":") if p][0] + "/swarm_harness.py"
paths = {[str(t) for t in targets]!r} + [harness, os.environ["SWARM_HARNESS_CONFIG"]]
for path in paths + glob.glob({str(cache)!r} + "/**/train/*", recursive=True):
    try:
        open(path, "a").write("x"); print("WROTE", path)
    except OSError as exc:
        print("denied:", type(exc).__name__, path)
raise SystemExit(3)
"""
    train_files = sorted(p for p in cache.rglob("*") if p.is_file() and "train" in p.relative_to(cache).parts)
    before = {p: p.read_bytes() for p in train_files}
    summary = run(tmp_path, data, source)
    assert summary.status == "crash"
    # paths under /tmp may be written inside: they land on the sandbox's own tmpfs, never on the host
    for target in targets:
        assert not target.exists(), target
    assert {p: p.read_bytes() for p in train_files} == before
    denied = [line for line in summary.log_tail.splitlines() if line.startswith("denied:")]
    assert any(line.endswith("/swarm_harness.py") for line in denied), summary.log_tail
    assert any(line.endswith("/harness.json") for line in denied)
    assert train_files and "/train/" not in summary.log_tail  # the training split is not even visible inside
    assert not any(line.startswith("WROTE") and ("/train/" in line or "harness" in line)
                   for line in summary.log_tail.splitlines())


def test_val_split_is_invisible_while_training(tmp_path: Path, data: tuple[DataSet, Path]) -> None:
    dataset, cache = data
    val_files = sorted(p for p in cache.rglob("*") if p.is_file() and "val" in p.relative_to(cache).parts)
    assert val_files, "the prepared split has a val folder"
    val_head = val_files[0].read_bytes()[:48].decode("latin-1")
    source = f"""
import glob, os
print("visible val files:", [p for p in glob.glob({str(cache)!r} + "/**", recursive=True) if "val" in p])
for path in {[str(p) for p in val_files]!r}:
    try:
        print("LEAKED:", open(path, "rb").read(48).decode("latin-1"))
    except OSError as exc:
        print("denied:", type(exc).__name__)
raise SystemExit(4)
"""
    summary = run(tmp_path, data, source)
    assert summary.status == "crash"
    assert "visible val files: []" in summary.log_tail
    assert "LEAKED:" not in summary.log_tail and val_head not in summary.log_tail


def test_seccomp_denies_io_uring_ptrace_mount(tmp_path: Path, data: tuple[DataSet, Path]) -> None:
    if os.uname().machine not in ("x86_64", "amd64"):
        pytest.skip("the syscall numbers in this test are x86_64's")
    source = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for name, nr, args in (("io_uring_setup", 425, (4, 0)), ("ptrace", 101, (0, 0, 0, 0)),
                       ("mount", 165, (b"none", b"/tmp", b"tmpfs", 0, 0))):
    rc = libc.syscall(nr, *args)
    print(name, "->", os.strerror(ctypes.get_errno()) if rc == -1 else "ALLOWED")
raise SystemExit(5)
"""
    summary = run(tmp_path, data, source)
    assert summary.status == "crash"
    for name in ("io_uring_setup", "ptrace", "mount"):
        assert f"{name} -> Operation not permitted" in summary.log_tail, summary.log_tail


def test_fork_bomb_is_contained(tmp_path: Path, data: tuple[DataSet, Path]) -> None:
    source = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    started = time.monotonic()
    summary = run(tmp_path, data, source)
    # killed by the watchdog as soon as it holds too many processes (crash), or at the wall clock (timeout)
    assert summary.status == "timeout" or "[sandbox] killed: more than" in summary.log_tail, summary
    assert time.monotonic() - started < 1 + MARGIN + 5


def test_memory_hog_dies_on_the_address_space_limit(tmp_path: Path, data: tuple[DataSet, Path]) -> None:
    # mmap without touching: reaches the RLIMIT_AS the runner sets without taking real memory from the machine
    source = "import mmap\nheld = []\nwhile True:\n    held.append(mmap.mmap(-1, 1 << 30))\n"
    summary = run(tmp_path, data, source, budget="30s")
    assert summary.status == "crash"
    assert "Cannot allocate memory" in summary.log_tail or "MemoryError" in summary.log_tail, summary.log_tail
    assert summary.wall_seconds < 10


def test_endless_loop_is_a_timeout_on_time(tmp_path: Path, data: tuple[DataSet, Path]) -> None:
    summary = run(tmp_path, data, "while True:\n    pass\n")
    assert summary.status == "timeout" and summary.clock == "cpu"
    charged = summary.cpu_seconds - summary.startup_cpu_seconds
    assert charged <= 1.0 + cpu_grace(1.0) + 1.0  # the budget, the stated grace, one sampling period
    if "CPU-seconds" in summary.reason:  # else the machine was too busy to give it that much before the wall net
        assert charged >= 1.0 + cpu_grace(1.0)


def test_endless_loop_on_the_wall_clock_is_a_timeout_on_time(tmp_path: Path, data: tuple[DataSet, Path]) -> None:
    started = time.monotonic()
    summary = run(tmp_path, data, "while True:\n    pass\n", clock="wall")
    elapsed = time.monotonic() - started
    assert summary.status == "timeout" and summary.clock == "wall"
    assert 1 + MARGIN <= elapsed < 1 + MARGIN + 3


def test_printing_gigabytes_keeps_a_bounded_tail(tmp_path: Path, data: tuple[DataSet, Path]) -> None:
    source = "import os\nline = b'spam ' * 200 + b'\\n'\nwhile True:\n    os.write(1, line * 1000)\n"
    before = psutil.disk_usage(str(tmp_path)).used
    summary = run(tmp_path, data, source)
    assert summary.status == "timeout"
    assert 0 < len(summary.log_tail) <= runner.LOG_TAIL_CHARS
    assert psutil.disk_usage(str(tmp_path)).used - before < 64 << 20
