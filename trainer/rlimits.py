"""Resource bounds of a sandboxed run: rlimits, and the bound on the number of processes.

Three layers bound the processes (and threads: the kernel counts tasks) of a run, strongest first:

- a **pids cgroup** (``pids.max``), when this process may create a child cgroup (cgroup v1 ``pids`` hierarchy, or a
  cgroup v2 tree that delegates ``pids``): exact, race-free, and it also lets us kill every task of the run at the end;
- **RLIMIT_NPROC set inside the sandbox's user namespace** (``prlimit`` runs as the sandbox's first command). Since
  Linux 5.14 the count is kept per user namespace, so inside a fresh namespace it counts only the sandbox's own tasks
  and other processes of the same user are unaffected. The kernel never enforces it for real root, hence the cgroup;
- a **watchdog** in :mod:`trainer.sandbox` that counts the process tree with psutil and kills it (last resort: a fast
  fork bomb can outrun sampling).

The other rlimits (CPU seconds, address space, file size, open files, no core dumps) are set by a small launcher at
the head of the sandbox's own command line (:meth:`RlimitPlan.launcher`): it joins the run's cgroups, lowers the
limits and execs bubblewrap, which starts under them and passes them on. No ``preexec_fn``: the runner starts sandboxes
from worker threads, where CPython documents ``preexec_fn`` as unsafe.
"""

from __future__ import annotations

import itertools
import logging
import os
import resource
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import psutil

__all__ = ["PidsCgroup", "RlimitPlan", "nproc_launcher", "task_limit", "user_task_count", "LIMITS_LAUNCHER"]

log = logging.getLogger(__name__)

_counter = itertools.count()

# Runs inside the sandbox when /usr/bin/prlimit is missing: lower RLIMIT_NPROC, then become the real command.
_LAUNCHER = (
    "import os,resource,sys;n=int(sys.argv[1]);"
    "resource.setrlimit(resource.RLIMIT_NPROC,(n,n));os.execvp(sys.argv[2],sys.argv[2:])"
)


# The head of the sandbox's command line: join the cgroups (argv[1] = how many procs files follow), set the rlimits
# (then how many "resource:soft:hard" triples follow), then become the real command (bubblewrap).
LIMITS_LAUNCHER = (
    "import os,resource as r,sys\n"
    "a=sys.argv;i=2;n=int(a[1])\n"
    "for p in a[i:i+n]:\n"
    " f=os.open(p,os.O_WRONLY);os.write(f,str(os.getpid()).encode());os.close(f)\n"
    "i+=n;m=int(a[i]);i+=1\n"
    "for t in a[i:i+m]:\n"
    " k,s,h=(int(x) for x in t.split(':'));r.setrlimit(k,(s,h))\n"
    "i+=m;os.execvp(a[i],a[i:])\n"
)


def task_limit(max_processes: int) -> int:
    """The tasks a run may hold: ``max_processes`` plus two threads per CPU (torch's and OpenMP's thread pools).

    The kernel counts threads as tasks in both ``pids.max`` and RLIMIT_NPROC, so a bound of processes alone would make
    a many-core machine's torch fail to start its threads.
    """
    return max_processes + 2 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class RlimitPlan:
    """The rlimits applied to the child before it execs bubblewrap (None = leave as inherited)."""

    cpu_seconds: int | None
    memory_bytes: int | None
    file_bytes: int
    open_files: int
    nproc: int | None = None  # only in the fallback without a user namespace (see user_task_count)

    def pairs(self) -> list[tuple[int, int]]:
        """``(resource, limit)`` pairs, in the order they are applied."""
        out: list[tuple[int, int]] = [(resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, self.file_bytes),
                                      (resource.RLIMIT_NOFILE, self.open_files)]
        if self.cpu_seconds is not None:
            out.append((resource.RLIMIT_CPU, self.cpu_seconds))
        if self.memory_bytes is not None:
            out.append((resource.RLIMIT_AS, self.memory_bytes))
        if self.nproc is not None:
            out.append((resource.RLIMIT_NPROC, self.nproc))
        return out

    def applied(self) -> list[tuple[int, int, int]]:
        """``(resource, soft, hard)`` as they will be set: never above this process's own hard limits."""
        out: list[tuple[int, int, int]] = []
        for res, value in self.pairs():
            _soft, hard = resource.getrlimit(res)
            limit = value if hard == resource.RLIM_INFINITY else min(value, hard)
            if res == resource.RLIMIT_CPU:
                # SIGXCPU at the soft limit, SIGKILL one second later
                hard_cpu = limit + 1 if hard == resource.RLIM_INFINITY else min(limit + 1, hard)
                out.append((res, limit, hard_cpu))
            else:
                out.append((res, limit, limit))
        return out

    def launcher(self, argv: Sequence[str], join: Sequence[Path] = ()) -> list[str]:
        """``argv`` prefixed by the launcher that joins the cgroups ``join`` (their ``cgroup.procs`` files) and sets
        these limits before it execs ``argv`` (the same process: everything it starts is born inside)."""
        triples = [f"{res}:{soft}:{hard}" for res, soft, hard in self.applied()]
        return [sys.executable, "-I", "-S", "-c", LIMITS_LAUNCHER, str(len(join)), *(str(p) for p in join),
                str(len(triples)), *triples, *argv]


def nproc_launcher(argv: Sequence[str], max_tasks: int) -> list[str]:
    """``argv`` prefixed so that it runs with RLIMIT_NPROC = ``max_tasks`` (meant to run inside the user namespace)."""
    prlimit = shutil.which("prlimit", path="/usr/bin:/bin")
    if prlimit is not None:
        return [prlimit, f"--nproc={max_tasks}:{max_tasks}", "--", *argv]
    return [sys.executable, "-S", "-c", _LAUNCHER, str(max_tasks), *argv]


def user_task_count() -> int:
    """Tasks (threads included) that this real uid runs now: the base of RLIMIT_NPROC without a user namespace."""
    uid = os.getuid()
    total = 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        info = proc.info
        if info.get("uids") is not None and info["uids"].real == uid:
            total += info.get("num_threads") or 1
    return total


class PidsCgroup:
    """A child pids cgroup for one run; :meth:`create` returns None where none can be made here."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, max_tasks: int) -> PidsCgroup | None:
        """Make a fresh child cgroup with ``pids.max = max_tasks``, or None (not permitted, no pids controller)."""
        for parent in _candidate_parents():
            _sweep_stale(parent)
            child = parent / f"swarm-sandbox-{os.getpid()}-{next(_counter)}"
            try:
                child.mkdir()
            except OSError as exc:
                log.debug("no pids cgroup under %s: %s", parent, exc)
                continue
            try:
                (child / "pids.max").write_text(str(max_tasks))
            except OSError as exc:
                log.debug("cannot set pids.max in %s: %s", child, exc)
                _rmdir_quietly(child)
                continue
            return cls(child)
        return None

    def open_procs(self) -> int:
        """An fd on ``cgroup.procs``, written by the child before exec (so every later task is born inside)."""
        return os.open(self.path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)

    def pids(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(line) for line in text.split()]

    def limit_hits(self) -> int:
        """How many forks ``pids.max`` refused so far."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every task in the cgroup until it is empty (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                log.warning("cgroup %s still holds %d tasks after kill", self.path, len(pids))
                return
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:  # EBUSY while the last tasks are being reaped
                if time.monotonic() > deadline:
                    log.warning("cannot remove cgroup %s: %s", self.path, exc)
                    return
                time.sleep(0.01)


def _candidate_parents() -> list[Path]:
    """The cgroup directories of this process that have a pids controller we could nest under."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    v1_path = v2_path = None
    for line in own:
        _hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if "pids" in controllers.split(","):
            v1_path = path
        elif controllers == "":
            v2_path = path
    out: list[Path] = []
    for line in mounts:
        fields = line.split()
        if len(fields) < 4:
            continue
        mountpoint, fstype, options = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup" and "pids" in options and v1_path is not None:
            out.append(Path(mountpoint) / v1_path.lstrip("/"))
        elif fstype == "cgroup2" and v2_path is not None:
            parent = Path(mountpoint) / v2_path.lstrip("/")
            try:
                delegated = "pids" in (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                delegated = False
            if delegated:
                out.append(parent)
    return out


def _sweep_stale(parent: Path) -> None:
    """Remove the cgroups left behind by a node that died (SIGKILL) mid-run; their tasks died with it."""
    try:
        entries = list(parent.glob("swarm-sandbox-*-*"))
    except OSError:
        return
    for entry in entries:
        try:
            owner = int(entry.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if owner != os.getpid() and not psutil.pid_exists(owner):
            PidsCgroup(entry).remove()


def _rmdir_quietly(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass
