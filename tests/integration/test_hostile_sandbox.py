"""Hostile commands in the sandbox: each is contained, and the machine is unharmed afterwards."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from trainer.rlimits import task_limit
from trainer.sandbox import SandboxSpec, run_sandboxed, sandbox_available

AVAILABLE, WHY = sandbox_available()
pytestmark = pytest.mark.skipif(not AVAILABLE, reason=f"sandbox unavailable here: {WHY}")

SECRET = "SECRET-" + uuid.uuid4().hex


def py(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def assert_machine_unharmed() -> None:
    """No process of the run is left, and this process can still start one."""
    assert psutil.Process().children(recursive=True) == []
    assert subprocess.run(["true"], timeout=10).returncode == 0


def test_tcp_to_a_loopback_listener_never_arrives(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = f"""
import json, socket
out = {{}}
for host in ("127.0.0.1", "localhost", "10.0.0.1", "1.1.1.1"):
    try:
        socket.create_connection((host, {port}), timeout=1).close(); out[host] = "connected"
    except OSError as exc:
        out[host] = type(exc).__name__
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"x", ("8.8.8.8", 53)); out["udp"] = "sent"
except OSError as exc:
    out["udp"] = type(exc).__name__
print(json.dumps(out))
"""
    try:
        result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=15))
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    seen = last_json(result.output_tail)
    assert "connected" not in seen.values() and seen["udp"] != "sent", seen
    assert_machine_unharmed()


def test_host_unix_sockets_are_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "host.sock"
    named = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    named.bind(str(path))
    named.listen()
    abstract_name = "\0swarm-test-" + uuid.uuid4().hex
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(abstract_name)
    abstract.listen()
    for s in (named, abstract):
        s.setblocking(False)
    code = f"""
import json, socket
out = {{}}
for name, addr in (("named", {str(path)!r}), ("abstract", {abstract_name!r})):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(addr); out[name] = "connected"
    except OSError as exc:
        out[name] = type(exc).__name__
print(json.dumps(out))
"""
    try:
        result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=15))
        for s in (named, abstract):
            with pytest.raises(BlockingIOError):
                s.accept()
    finally:
        named.close()
        abstract.close()
    seen = last_json(result.output_tail)
    assert seen == {"named": "FileNotFoundError", "abstract": "ConnectionRefusedError"}, seen


def test_node_home_key_is_invisible(tmp_path: Path, node_home: Path) -> None:
    key = node_home / "identity.key"
    key.write_text(SECRET)
    (node_home / "ledger.sqlite").write_text(SECRET)
    code = f"""
import glob, os
for path in ({str(key)!r}, {str(node_home / "ledger.sqlite")!r}, os.path.expanduser("~/.swarm-node/identity.key"),
             "/proc/1/root{key}", "/proc/self/root{key}"):
    try:
        print("READ", open(path).read())
    except OSError as exc:
        print("denied", path, type(exc).__name__)
print("home visible:", os.path.exists({str(node_home)!r}), glob.glob("/root/*") + glob.glob("/home/*"))
"""
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=15))
    assert result.returncode == 0, result.output_tail
    assert SECRET not in result.output_tail and "READ" not in result.output_tail
    assert "home visible: False []" in result.output_tail


def test_writes_outside_the_workdir_do_not_land(tmp_path: Path, node_home: Path) -> None:
    name = "swarm-escape-" + uuid.uuid4().hex
    targets = [tmp_path / name, node_home / name, Path("/tmp") / name, Path("/var/tmp") / name,
               Path(sys.prefix) / name]
    code = f"""
for path in {[str(t) for t in targets]!r}:
    try:
        open(path, "w").write("x"); print("wrote", path)
    except OSError as exc:
        print("denied", path, type(exc).__name__)
"""
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=15))
    assert result.returncode == 0, result.output_tail
    for target in targets:
        assert not target.exists(), target
    assert list((tmp_path / "w").iterdir()) == []


def test_fork_bomb_is_bounded_then_killed(tmp_path: Path) -> None:
    counter = """
import os, time
n = 0
try:
    while n < 10_000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as exc:
    print("forks refused after", n, exc.errno)
"""
    bounded = run_sandboxed(py(counter), SandboxSpec(workdir=tmp_path / "w", wall_timeout=10, max_processes=32))
    assert "forks refused after" in bounded.output_tail, bounded.output_tail
    assert int(bounded.output_tail.split("forks refused after")[1].split()[0]) <= task_limit(32)
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    result = run_sandboxed(py(bomb), SandboxSpec(workdir=tmp_path / "w", wall_timeout=1.5, max_processes=32))
    assert result.returncode is None  # killed: by the watchdog (too many processes) or at the wall clock
    assert result.timed_out or "[sandbox] killed: more than" in result.output_tail
    assert time.monotonic() - start < 5
    assert_machine_unharmed()


def test_unbounded_allocation_dies_quickly(tmp_path: Path) -> None:
    code = "x = []\nwhile True:\n    x.append(bytearray(16 << 20))\n"
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=20, memory_bytes=256 << 20))
    assert not result.timed_out and result.returncode not in (0, None)
    assert "MemoryError" in result.output_tail
    assert result.wall_seconds < 10 and result.peak_rss_mb < 300
    assert_machine_unharmed()


def test_endless_loop_times_out_on_time(tmp_path: Path) -> None:
    result = run_sandboxed(py("while True:\n    pass\n"), SandboxSpec(workdir=tmp_path / "w", wall_timeout=1.0))
    assert result.timed_out and result.returncode is None
    assert 1.0 <= result.wall_seconds < 2.0
    assert_machine_unharmed()


def test_cpu_rlimit_stops_a_spinner(tmp_path: Path) -> None:
    result = run_sandboxed(py("while True:\n    pass\n"), SandboxSpec(workdir=tmp_path / "w", wall_timeout=20,
                                                                     cpu_seconds=1))
    assert not result.timed_out and result.returncode in (128 + 24, 128 + 9)  # SIGXCPU, then SIGKILL
    assert result.wall_seconds < 10


def test_printing_gigabytes_stays_bounded(tmp_path: Path) -> None:
    lines: list[str] = []
    code = "import os\nchunk = b'y' * (1 << 20)\nwhile True:\n    os.write(1, chunk)\n    os.write(2, chunk)\n"
    before = psutil.disk_usage(str(tmp_path)).used
    spec = SandboxSpec(workdir=tmp_path / "w", wall_timeout=1.5, output_bytes=64 << 10)
    result = run_sandboxed(py(code), spec, on_line=lines.append)
    assert result.timed_out and result.output_truncated
    assert len(result.output_tail) <= 64 << 10 and set(result.output_tail) == {"y"}
    assert lines == []  # no newline ever came: nothing to report, and nothing buffered past MAX_LINE
    assert psutil.disk_usage(str(tmp_path)).used - before < 64 << 20
    assert_machine_unharmed()


def test_big_file_is_cut_by_the_file_size_limit(tmp_path: Path) -> None:
    code = "f = open('big', 'wb')\nwhile True:\n    f.write(b'z' * (1 << 20))\n"
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=20, file_bytes=4 << 20))
    assert not result.timed_out and result.returncode not in (0, None)
    assert (tmp_path / "w" / "big").stat().st_size <= 4 << 20


def test_seccomp_denies_dangerous_calls(tmp_path: Path) -> None:
    code = """
import ctypes, json, os, threading
libc = ctypes.CDLL(None, use_errno=True)
calls = {"io_uring_setup": (425, 4, 0), "ptrace": (101, 0, 0, 0, 0), "mount": (165, b"none", b"/mnt", b"tmpfs", 0, 0),
         "bpf": (321, 0, 0, 0), "unshare": (272, 0x10000000), "keyctl": (250, 0), "perf_event_open": (298, 0, 0, -1, -1, 0),
         "userfaultfd": (323, 0), "clone_newuser": (56, 0x10000000 | 17, 0, 0, 0, 0)}
out = {}
for name, (nr, *args) in calls.items():
    rc = libc.syscall(nr, *args)
    out[name] = os.strerror(ctypes.get_errno()) if rc == -1 else "allowed"
t = threading.Thread(target=lambda: None); t.start(); t.join()
pid = os.fork()
if pid == 0:
    os._exit(0)
out["fork"] = os.waitpid(pid, 0)[1]
print(json.dumps(out))
"""
    if os.uname().machine not in ("x86_64", "amd64"):
        pytest.skip("the syscall numbers in this test are x86_64's")
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=15))
    assert result.returncode == 0, result.output_tail
    seen = last_json(result.output_tail)
    fork_status = seen.pop("fork")
    assert fork_status == 0  # ordinary fork and threads still work
    assert seen == {name: "Operation not permitted" for name in seen}, seen


def test_process_bound_without_a_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no pids cgroup can be made: RLIMIT_NPROC inside the user namespace, else (root) the watchdog's kill."""
    import trainer.sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module.PidsCgroup, "create", classmethod(lambda cls, max_tasks: None))
    counter = """
import os, time
n = 0
try:
    while n < 200:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError as exc:
    print("forks refused after", n, exc.errno, flush=True)
time.sleep(10)  # held: the watchdog sees the tree over its bound and kills it
"""
    result = run_sandboxed(py(counter), SandboxSpec(workdir=tmp_path / "w", wall_timeout=20, max_processes=16))
    if os.getuid() != 0:
        assert "forks refused after" in result.output_tail, result.output_tail
        assert int(result.output_tail.split("forks refused after")[1].split()[0]) <= task_limit(16)
    # and the watchdog counts the tree (the only bound for root, for whom the kernel never enforces RLIMIT_NPROC)
    assert result.returncode is None and not result.timed_out and result.wall_seconds < 8
    assert "[sandbox] killed: more than" in result.output_tail
    assert_machine_unharmed()


def test_daemonized_grandchild_dies_with_the_run(tmp_path: Path) -> None:
    code = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(60)"], start_new_session=True)
print("daemon started")
"""
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=20))
    assert result.returncode == 0 and not result.timed_out
    assert "daemon started" in result.output_tail and result.wall_seconds < 5
    assert_machine_unharmed()


def test_closed_output_and_a_spin_still_times_out(tmp_path: Path) -> None:
    code = "import os\nos.close(1)\nos.close(2)\nwhile True:\n    pass\n"
    result = run_sandboxed(py(code), SandboxSpec(workdir=tmp_path / "w", wall_timeout=1.0))
    assert result.timed_out and result.returncode is None and 1.0 <= result.wall_seconds < 2.0
    assert_machine_unharmed()
