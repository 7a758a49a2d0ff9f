"""The sandbox's pure parts: the bubblewrap command line, the probe's answer without bwrap, output bounding, rlimits."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pytest

from trainer.rlimits import RlimitPlan, nproc_launcher
from trainer.sandbox import SandboxSpec, bwrap_argv, probe_sandbox, python_env_paths
from trainer.sandbox_io import MAX_LINE, LineSplitter, OutputTail


def _binds(argv: list[str]) -> list[tuple[str, str]]:
    """(option, path) of every bind in a bwrap command line, in order."""
    out = []
    for i, arg in enumerate(argv):
        if arg in ("--bind", "--ro-bind", "--dev-bind", "--ro-bind-try"):
            assert argv[i + 1] == argv[i + 2]
            out.append((arg, argv[i + 1]))
    return out


def test_argv_isolates_everything(tmp_path: Path) -> None:
    spec = SandboxSpec(workdir=tmp_path / "work", env={"PATH": "/usr/bin", "SEED": "3"})
    argv = bwrap_argv(["python", "train.py"], spec, bwrap="/usr/bin/bwrap", seccomp_fd=7, env_paths=())
    head = argv[: argv.index("--")]
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                 "--clearenv"):
        assert flag in head
    assert head[head.index("--cap-drop") + 1] == "ALL"
    assert head[head.index("--seccomp") + 1] == "7"
    assert argv[argv.index("--") + 1:] == ["python", "train.py"]
    assert head.index("--clearenv") < head.index("--setenv")
    setenvs = {head[i + 1]: head[i + 2] for i, a in enumerate(head) if a == "--setenv"}
    assert setenvs == {"PATH": "/usr/bin", "SEED": "3"}
    assert head[head.index("--chdir") + 1] == str(tmp_path / "work")
    assert head[head.index("--tmpfs") - 2:head.index("--tmpfs")] == ["--size", str(spec.file_bytes)]
    binds = _binds(argv)
    assert ("--bind", str(tmp_path / "work")) in binds
    writable = [path for option, path in binds if option in ("--bind", "--dev-bind")]
    assert writable == [str(tmp_path / "work")]
    assert str(Path.home()) not in [path for _option, path in binds]
    assert "/" not in [path for _option, path in binds]
    with_data = bwrap_argv(["x"], spec, bwrap="bwrap", seccomp_fd=7, env_paths=(), data_fds=[(9, "/etc/passwd")])
    i = with_data.index("--ro-bind-data")
    assert with_data[i + 1:i + 3] == ["9", "/etc/passwd"] and i < with_data.index("--")


def test_binds_go_parent_first_so_nesting_works(tmp_path: Path) -> None:
    project = tmp_path / "project"
    spec = SandboxSpec(workdir=project / "runs" / "r1", ro_paths=(project, project / "runs" / "r1" / "data"))
    binds = _binds(bwrap_argv(["x"], spec, bwrap="bwrap", seccomp_fd=3, env_paths=()))
    paths = [path for _option, path in binds]
    assert paths.index(str(project)) < paths.index(str(project / "runs" / "r1"))
    assert paths.index(str(project / "runs" / "r1")) < paths.index(str(project / "runs" / "r1" / "data"))
    assert ("--ro-bind", str(project / "runs" / "r1" / "data")) in binds
    argv = bwrap_argv(["x"], spec, bwrap="bwrap", seccomp_fd=3, env_paths=())
    assert argv.index("--tmpfs") < argv.index(str(project))  # binds under /tmp land on the tmpfs, not under it


def test_devices_pass_through_with_sys(tmp_path: Path) -> None:
    spec = SandboxSpec(workdir=tmp_path, dev_paths=("/dev/nvidia0", "/dev/nvidiactl"))
    binds = _binds(bwrap_argv(["x"], spec, bwrap="bwrap", seccomp_fd=3, env_paths=()))
    assert ("--dev-bind", "/dev/nvidia0") in binds and ("--dev-bind", "/dev/nvidiactl") in binds
    assert ("--ro-bind", "/sys") in binds
    plain = _binds(bwrap_argv(["x"], SandboxSpec(workdir=tmp_path), bwrap="bwrap", seccomp_fd=3, env_paths=()))
    assert ("--ro-bind", "/sys") not in plain


def test_python_env_is_bound_read_only_without_home(tmp_path: Path) -> None:
    paths = python_env_paths()
    assert paths, "the running interpreter lives somewhere"
    assert any(Path(sys.executable).resolve().is_relative_to(p) for p in paths)
    assert any(Path(sys.prefix).resolve().is_relative_to(p) or Path(sys.prefix).is_relative_to(p) for p in paths)
    assert Path.home() not in paths and Path("/") not in paths
    for a in paths:  # no path nested in another
        assert not any(a != b and a.is_relative_to(b) for b in paths)
    binds = _binds(bwrap_argv(["x"], SandboxSpec(workdir=tmp_path), bwrap="bwrap", seccomp_fd=3))
    for p in paths:
        assert ("--ro-bind", str(p)) in binds


def test_probe_without_bwrap_names_the_fix() -> None:
    ok, reason = probe_sandbox(None)
    assert not ok
    assert "apt-get install bubblewrap" in reason or not sys.platform.startswith("linux")


def test_output_tail_keeps_the_last_bytes_in_bounded_memory() -> None:
    tail = OutputTail(1000)
    for i in range(10_000):
        tail.feed(b"%05d\n" % i)
        assert len(tail._buf) <= 2000 + 6
    assert tail.truncated and tail.total == 60_000
    text = tail.text()
    assert len(text) == 1000 and text.endswith("09999\n")
    big = OutputTail(10)
    big.feed(b"a" * 10_000_000 + b"0123456789")
    assert big.text() == "0123456789" and big.truncated
    small = OutputTail(100)
    small.feed("héllo\n".encode())
    assert small.text() == "héllo\n" and not small.truncated


def test_line_splitter_joins_chunks_and_bounds_lines() -> None:
    lines: list[str] = []
    split = LineSplitter(lines.append)
    split.feed(b"@@swarm step=1\n@@swa")
    split.feed(b"rm step=2\r\npart")
    assert lines == ["@@swarm step=1", "@@swarm step=2"]
    split.feed(b"x" * (3 * MAX_LINE))
    split.feed(b"y" * MAX_LINE + b"\nnext\n")
    assert len(lines[2]) == MAX_LINE and lines[2].startswith("partx")
    assert lines[3] == "next"
    split.feed(b"\xff\xfe bad bytes\n")
    assert lines[4].endswith(" bad bytes")


def test_line_splitter_survives_a_failing_callback() -> None:
    seen: list[str] = []

    def callback(line: str) -> None:
        seen.append(line)
        raise RuntimeError("ui broke")

    split = LineSplitter(callback)
    split.feed(b"a\nb\n")
    assert seen == ["a", "b"]


def test_rlimit_plan() -> None:
    plan = RlimitPlan(cpu_seconds=30, memory_bytes=1 << 30, file_bytes=1 << 20, open_files=128)
    pairs = dict(plan.pairs())
    assert pairs[resource.RLIMIT_CPU] == 30 and pairs[resource.RLIMIT_AS] == 1 << 30
    assert pairs[resource.RLIMIT_FSIZE] == 1 << 20 and pairs[resource.RLIMIT_NOFILE] == 128
    assert pairs[resource.RLIMIT_CORE] == 0 and resource.RLIMIT_NPROC not in pairs
    loose = dict(RlimitPlan(cpu_seconds=None, memory_bytes=None, file_bytes=1, open_files=8, nproc=99).pairs())
    assert resource.RLIMIT_CPU not in loose and resource.RLIMIT_AS not in loose and loose[resource.RLIMIT_NPROC] == 99


def test_nproc_launcher_wraps_the_command() -> None:
    argv = nproc_launcher(["python", "-u", "train.py"], 65)
    assert argv[-3:] == ["python", "-u", "train.py"]
    assert "--nproc=65:65" in argv or "65" in argv


def test_python_env_never_includes_home(monkeypatch) -> None:
    monkeypatch.setenv("HOME", sys.prefix)  # an interpreter installed right in the home directory
    paths = python_env_paths()
    home = Path(sys.prefix).resolve()
    assert not any(p == home or p in home.parents for p in paths)


def test_binding_home_or_its_parents_is_refused(tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home" / "alice"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for bad in (SandboxSpec(workdir=home), SandboxSpec(workdir=tmp_path / "w", ro_paths=(tmp_path / "home",))):
        with pytest.raises(ValueError, match="home directory"):
            bwrap_argv(["x"], bad, bwrap="bwrap", seccomp_fd=3, env_paths=())
    inside = SandboxSpec(workdir=home / ".swarm-node" / "swarms" / "s" / "run")  # a run folder under the home: fine
    assert "--bind" in bwrap_argv(["x"], inside, bwrap="bwrap", seccomp_fd=3, env_paths=())
