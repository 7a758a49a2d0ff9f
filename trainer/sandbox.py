"""The training sandbox: bubblewrap + seccomp + rlimits + a wall-clock kill of the whole process tree.

Inside, a process sees: ``/usr`` (and the ``/bin``, ``/lib*`` links or dirs), ``/etc/ld.so.cache``, a one-user
``/etc/passwd`` and ``/etc/group`` (so that ``getpass.getuser()`` works), the Python
environment that runs this code (venv + base interpreter, read-only), ``spec.ro_paths`` read-only, ``spec.workdir``
read-write (and its cwd), a fresh ``/proc``, a minimal ``/dev`` (+ ``spec.dev_paths``), a small tmpfs ``/tmp``.
Nothing else: not ``$HOME``, not the node's key or ledger. All namespaces are unshared (no network, no host unix or
abstract sockets, own pid tree), capabilities dropped, no nested user namespaces, environment cleared, and the
seccomp filter of :mod:`trainer.seccomp` loaded. Bounds on processes and the rlimits: :mod:`trainer.rlimits`; the
CPU clock of the tree (read outside it, kill past ``cpu_kill_at``) and the memory cgroup: :mod:`trainer.cpuclock`.

Where bubblewrap cannot start, :func:`run_sandboxed` raises :class:`SandboxUnavailable`, or with
``require_sandbox=False`` runs the command with rlimits, its own process group and the timeout only (``sandboxed=False``).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from trainer.cpuclock import CgroupDir, TreeClock, memory_cgroup
from trainer.corpus import HELD_OUT_DIR
from trainer.errors import SandboxUnavailable
from trainer.rlimits import PidsCgroup, RlimitPlan, nproc_launcher, task_limit, user_task_count
from trainer.sandbox_io import Supervisor
from trainer.seccomp import build_filter, host_table

__all__ = [
    "SandboxSpec", "SandboxResult", "sandbox_available", "run_sandboxed",
    "probe_sandbox", "bwrap_argv", "python_env_paths", "find_bwrap",
]

log = logging.getLogger(__name__)

DEFAULT_ENV: Mapping[str, str] = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
_TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_FIX_INSTALL = "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap)"
_FIX_USERNS = (
    "allow unprivileged user namespaces (Debian: sudo sysctl kernel.unprivileged_userns_clone=1; "
    "Ubuntu 24.04+: sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0; "
    "in a container: run it with --security-opt seccomp=unconfined or --privileged)"
)


@dataclass(frozen=True)
class SandboxSpec:
    """What one sandboxed command may see and use."""

    workdir: Path  # fresh writable dir, bound read-write at the same path, and the cwd
    ro_paths: tuple[Path, ...] = ()  # extra read-only binds at the same paths (project source, data)
    dev_paths: tuple[str, ...] = ()  # device nodes to pass through (e.g. /dev/nvidia0); /sys is then bound too
    env: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ENV))  # the COMPLETE environment inside
    wall_timeout: float = 60.0  # hard kill of the whole process tree after this many seconds
    wall_stretch: float = 0.0  # time waiting for a CPU moves the kill back, up to this many times wall_timeout
    cpu_seconds: int | None = None  # RLIMIT_CPU (per process)
    memory_bytes: int | None = None  # RLIMIT_AS (per process; CPU runs only: CUDA maps huge address ranges)
    file_bytes: int = 256 << 20  # RLIMIT_FSIZE, and the size of the tmpfs /tmp
    open_files: int = 256  # RLIMIT_NOFILE
    max_processes: int = 64  # bound on the processes inside (+ 2 threads per CPU: the kernel counts tasks)
    output_bytes: int = 1 << 20  # how much of stdout+stderr is kept (the tail); the rest is drained and dropped
    stdin: bytes | None = None
    pass_fds: tuple[int, ...] = ()  # fds handed to the command at the same numbers (the batch pipes)
    cpu_clock: TreeClock | None = None  # the tree's CPU clock (a fresh one when None); shared with the batch server
    cpu_kill_at: float | None = None  # SIGKILL the tree once it has used this many CPU-seconds
    memory_cgroup_bytes: int | None = None  # cap RAM of the whole tree with a memory cgroup, where one can be made
    hidden_paths: tuple[Path, ...] = (HELD_OUT_DIR,)  # covered by an empty read-only tmpfs where a bind exposes them


@dataclass(frozen=True)
class SandboxResult:
    """How one sandboxed command ended."""

    returncode: int | None  # None when it had to be killed; 128+N when it died of signal N
    timed_out: bool
    wall_seconds: float
    output_tail: str  # decoded with errors="replace"
    output_truncated: bool
    peak_rss_mb: float
    sandboxed: bool
    cpu_seconds: float = 0.0  # CPU-seconds of the whole tree, read outside it
    killed_for_cpu: bool = False  # killed for passing cpu_kill_at
    waited_seconds: float = 0.0  # the busiest task's time runnable but waiting for a CPU (with wall_stretch only)
    cpu_clock: str = ""  # where cpu_seconds came from ("cgroup v1", "cgroup v2", "/proc tree")
    memory_cgroup: bool = False  # the tree ran under a memory cgroup


def find_bwrap() -> str | None:
    """The bubblewrap binary: ``$SWARM_NODE_BWRAP`` when set (a path; ``none`` for no sandbox at all, as on a machine
    without bubblewrap), else on PATH (or /usr/bin/bwrap), or None."""
    chosen = os.environ.get("SWARM_NODE_BWRAP")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "none") else shutil.which(chosen.strip())
    return shutil.which("bwrap") or shutil.which("bwrap", path="/usr/bin:/bin")


@functools.lru_cache(maxsize=1)
def sandbox_available() -> tuple[bool, str]:
    """(True, "bubblewrap ...") when the sandbox starts here, else (False, the reason and its fix). Cached."""
    ok, reason = probe_sandbox(find_bwrap())
    (log.info if ok else log.warning)("sandbox: %s", reason)
    return ok, reason


def probe_sandbox(bwrap: str | None) -> tuple[bool, str]:
    """Try the real sandbox (namespaces, binds, seccomp) on ``true`` once; (ok, reason with the fix)."""
    if not sys.platform.startswith("linux"):
        return False, f"the sandbox needs Linux (bubblewrap); this is {sys.platform}: run untrusted train.py on Linux"
    if bwrap is None:
        return False, f"bubblewrap (bwrap) is not installed: {_FIX_INSTALL}"
    if host_table() is None:
        import platform

        return False, f"no seccomp syscall table for {platform.machine()}: the sandbox supports x86_64 and aarch64"
    true = shutil.which("true", path="/usr/bin:/bin") or "/bin/true"
    with tempfile.TemporaryDirectory(prefix="swarm-sandbox-probe-") as tmp:
        spec = SandboxSpec(workdir=Path(tmp), wall_timeout=20.0)
        read_fd = _data_fd(build_filter())
        try:
            argv = bwrap_argv([true], spec, bwrap=bwrap, seccomp_fd=read_fd, env_paths=())
            proc = subprocess.run(argv, pass_fds=(read_fd,), capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"bubblewrap at {bwrap} did not run: {exc}"
        finally:
            os.close(read_fd)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()[-500:]
        if "namespace" in err or "Operation not permitted" in err or "setting up uid map" in err:
            return False, f"bubblewrap cannot create namespaces here ({err}): {_FIX_USERNS}"
        return False, f"bubblewrap failed its trial run (exit {proc.returncode}: {err}); bubblewrap >= 0.8 is needed"
    version = subprocess.run([bwrap, "--version"], capture_output=True, check=False).stdout.decode().strip()
    return True, f"{version or 'bubblewrap'} at {bwrap}: namespaces, seccomp and rlimits available"


def python_env_paths() -> tuple[Path, ...]:
    """The directories the running interpreter needs: venv, base installation, the real interpreter's prefix."""
    candidates = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
                  Path(os.path.realpath(sys.executable)).parent.parent, Path(sys.executable).parent.parent}
    home = Path(os.path.realpath(Path.home()))
    resolved: set[Path] = set()
    for path in candidates:
        for p in (path, Path(os.path.realpath(path))):
            if not p.is_dir() or p == Path("/"):
                continue
            if p == home or p in home.parents:  # never $HOME: the node's key and ledger live under it
                log.warning("not binding %s into the sandbox: it holds the home directory", p)
                continue
            resolved.add(p)
    return _without_nested(resolved | {Path("/usr")}, keep_root=False)


def bwrap_argv(argv: Sequence[str], spec: SandboxSpec, *, bwrap: str, seccomp_fd: int,
               env_paths: Sequence[Path] | None = None, data_fds: Sequence[tuple[int, str]] = ()) -> list[str]:
    """The full bubblewrap command line that runs ``argv`` under ``spec`` (``env_paths`` default: this Python).

    ``data_fds``: (fd, path) pairs, each fd's content becomes a read-only file at path (``/etc/passwd``, ...).
    """
    out = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
           "--cap-drop", "ALL", "--hostname", "sandbox", "--clearenv"]
    for key, value in spec.env.items():
        out += ["--setenv", key, value]
    out += ["--ro-bind", "/usr", "/usr"]
    for top in _TOP_LEVEL:
        if os.path.islink(top):
            out += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            out += ["--ro-bind", top, top]
    out += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--proc", "/proc", "--dev", "/dev"]
    for fd, dest in data_fds:
        out += ["--ro-bind-data", str(fd), dest]
    for dev in spec.dev_paths:
        out += ["--dev-bind", dev, dev]
    if spec.dev_paths:
        out += ["--ro-bind", "/sys", "/sys"]
    out += ["--size", str(spec.file_bytes), "--tmpfs", "/tmp"]
    # binds sorted parent-first, so that a writable workdir inside a read-only path (or the reverse) comes out right
    workdir = Path(os.path.abspath(spec.workdir))
    env = python_env_paths() if env_paths is None else tuple(env_paths)
    binds: dict[Path, str] = {Path(os.path.abspath(p)): "--ro-bind" for p in (*env, *spec.ro_paths)
                              if Path(os.path.abspath(p)) != Path("/usr")}
    binds[workdir] = "--bind"
    home = Path(os.path.realpath(Path.home()))
    for path in binds:
        real = Path(os.path.realpath(path))
        if real == home or real in home.parents or real == Path("/"):
            raise ValueError(f"refusing to bind {path} into the sandbox: it is or holds the home directory")
    for path in sorted(binds, key=lambda p: (len(p.parts), str(p))):
        out += [binds[path], str(path), str(path)]
    for hidden in _hidden_targets(spec.hidden_paths, binds):
        out += ["--tmpfs", str(hidden), "--remount-ro", str(hidden)]
    out += ["--chdir", str(workdir), "--seccomp", str(seccomp_fd), "--", *argv]
    return out


def run_sandboxed(argv: Sequence[str], spec: SandboxSpec, *, on_line: Callable[[str], None] | None = None,
                  require_sandbox: bool = True) -> SandboxResult:
    """Run ``argv`` in the sandbox; drain its output; kill its whole tree at ``spec.wall_timeout``.

    Raises :class:`SandboxUnavailable` when ``require_sandbox`` and bubblewrap cannot start here. With
    ``require_sandbox=False`` on such a machine: rlimits + own process group + timeout only, ``sandboxed=False``.
    ``on_line`` gets each complete stdout line (without its newline, at most 8 KiB) as it arrives.
    """
    if not argv:
        raise ValueError("empty argv")
    ok, reason = sandbox_available()
    if not ok and require_sandbox:
        raise SandboxUnavailable(reason)
    spec.workdir.mkdir(parents=True, exist_ok=True)
    tasks = task_limit(spec.max_processes)
    cgroup = PidsCgroup.create(tasks + 2)  # + the outer bwrap and bwrap's reaper
    clock = spec.cpu_clock if spec.cpu_clock is not None else TreeClock()
    join: list[Path] = [cgroup.path / "cgroup.procs"] if cgroup is not None else []
    join += list(clock.open())
    memory: CgroupDir | None = None
    if spec.memory_cgroup_bytes is not None:
        memory = memory_cgroup(spec.memory_cgroup_bytes)
        if memory is not None:
            join.append(memory.procs)
    fds: list[int] = []
    try:
        if ok:
            seccomp_fd = _data_fd(build_filter())
            fds.append(seccomp_fd)
            data_fds = [(_data_fd(text.encode()), dest) for dest, text in _identity_files(spec.workdir).items()]
            fds += [fd for fd, _dest in data_fds]
            inner = list(argv) if cgroup is not None else nproc_launcher(argv, tasks + 1)
            command = bwrap_argv(inner, spec, bwrap=find_bwrap() or "bwrap", seccomp_fd=seccomp_fd,
                                 data_fds=data_fds)
            plan = _plan(spec, nproc=None)
            env: Mapping[str, str] = {}
            pass_fds: tuple[int, ...] = (*fds, *spec.pass_fds)
        else:
            log.warning("running WITHOUT the sandbox (%s)", reason)
            command = list(argv)
            plan = _plan(spec, nproc=None if cgroup is not None else user_task_count() + tasks)
            env = spec.env
            pass_fds = tuple(spec.pass_fds)
        supervisor = Supervisor(plan.launcher(command, join), cwd=spec.workdir, env=dict(env), pass_fds=pass_fds,
                                stdin=spec.stdin, on_line=on_line, output_bytes=spec.output_bytes,
                                max_processes=spec.max_processes + 2, cgroup=cgroup, clock=clock,
                                cpu_kill_at=spec.cpu_kill_at, wall_stretch=spec.wall_stretch)
        outcome = supervisor.run(spec.wall_timeout)
    finally:
        for fd in fds:
            os.close(fd)
        if cgroup is not None:
            cgroup.remove()
        clock.close()
        if memory is not None:
            memory.remove()
    return SandboxResult(returncode=outcome.returncode, timed_out=outcome.timed_out,
                         wall_seconds=outcome.wall_seconds, output_tail=outcome.output_tail,
                         output_truncated=outcome.output_truncated, peak_rss_mb=outcome.peak_rss_mb, sandboxed=ok,
                         cpu_seconds=outcome.cpu_seconds, killed_for_cpu=outcome.killed_for_cpu,
                         waited_seconds=outcome.waited_seconds,
                         cpu_clock=clock.source, memory_cgroup=memory is not None)


def _plan(spec: SandboxSpec, *, nproc: int | None) -> RlimitPlan:
    return RlimitPlan(cpu_seconds=spec.cpu_seconds, memory_bytes=spec.memory_bytes, file_bytes=spec.file_bytes,
                      open_files=spec.open_files, nproc=nproc)


def _data_fd(content: bytes) -> int:
    """The read end of a pipe that holds ``content`` and then EOF (bwrap reads it whole); the caller closes it."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, content)  # a few hundred bytes: fits in the pipe buffer
    finally:
        os.close(write_fd)
    return read_fd


def _identity_files(workdir: Path) -> dict[str, str]:
    """A one-user /etc/passwd and /etc/group, so that getpass.getuser() and friends work inside."""
    uid, gid = os.getuid(), os.getgid()
    name = "root" if uid == 0 else "sandbox"
    return {"/etc/passwd": f"{name}:x:{uid}:{gid}:{name}:{os.path.abspath(workdir)}:/usr/sbin/nologin\n",
            "/etc/group": f"{name}:x:{gid}:\n"}


def _hidden_targets(hidden: Sequence[Path], binds: Mapping[Path, str]) -> list[Path]:
    """Where each hidden folder appears inside the sandbox (under any bind, through symlinks too)."""
    targets: set[Path] = set()
    for secret in hidden:
        real = Path(os.path.realpath(secret))
        if not real.is_dir():
            continue
        for bound in binds:
            root = Path(os.path.realpath(bound))
            if real == root or root in real.parents:
                targets.add(bound / real.relative_to(root))
    return sorted(targets, key=lambda p: (len(p.parts), str(p)))


def _without_nested(paths: set[Path], *, keep_root: bool) -> tuple[Path, ...]:
    """Drop the paths that lie inside another path of the set."""
    ordered = sorted(paths, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in ordered:
        if not keep_root and path == Path("/"):
            continue
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return tuple(sorted(kept))
