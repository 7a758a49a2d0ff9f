"""The CPU clock of one sandboxed process tree, read from OUTSIDE it, and the run's cgroups (CPU, memory).

train.py shares an interpreter with the harness and can rewrite anything in it, so the clock that decides a CPU
budget is read here, in the runner's process, from where train.py cannot reach:

- a **cgroup** made for the run, where this process may make one: cgroup v1 ``cpuacct`` (``cpuacct.usage``, ns) or
  a cgroup v2 directory (``cpu.stat`` ``usage_usec``, present whether or not the cpu controller is enabled). Every
  task of the run is born inside it (the launcher joins it before it execs bubblewrap), so the count is exact: it keeps
  the time of tasks that already ended, threads and forked children included;
- else the **process tree**: the sum of ``utime + stime + cutime + cstime`` (``/proc/<pid>/stat``) over the live tree,
  kept as a high-water mark, and the reaped child's rusage at the end. Exact for an honest tree (the time of a reaped
  child moves into its parent's ``cutime``); a hostile tree can hide the time of children it reaps with SIGCHLD
  ignored, which RLIMIT_CPU (per process) and the pids bound still cap.

:class:`TreeClock` picks one; the supervisor feeds it samples and kills the tree past its limit, the batch server
reads it to stop serving. The same module makes the run's **memory** cgroup (``memory.limit_in_bytes`` /
``memory.max``), the bound on GPU runs, where RLIMIT_AS cannot be used (CUDA maps huge address ranges).
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["TreeClock", "CgroupDir", "make_cgroup", "memory_cgroup", "proc_cpu_seconds"]

log = logging.getLogger(__name__)

_counter = itertools.count()
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CgroupDir:
    """One cgroup directory made for a run (``version`` 1 or 2); :meth:`remove` deletes it."""

    def __init__(self, path: Path, version: int) -> None:
        self.path = path
        self.version = version

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def cpu_seconds(self) -> float | None:
        """CPU-seconds used by every task that was ever inside (None when unreadable)."""
        try:
            if self.version == 1:
                return int((self.path / "cpuacct.usage").read_text()) / 1e9
            for line in (self.path / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        except (OSError, ValueError):
            return None
        return None

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in self.procs.read_text().split()]
        except (OSError, ValueError):
            return []

    def remove(self, timeout: float = 5.0) -> None:
        """SIGKILL what is left inside, then delete the directory (EBUSY while the last tasks are reaped)."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if time.monotonic() > deadline:
                    log.warning("cannot remove cgroup %s: %s", self.path, exc)
                    return
                time.sleep(0.01)


def _own_cgroups() -> tuple[dict[str, str], str | None]:
    """({v1 controller: own path}, own v2 path or None) of this process."""
    v1: dict[str, str] = {}
    v2: str | None = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return v1, v2
    for line in lines:
        _hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controllers == "":
            v2 = path
        for name in controllers.split(","):
            if name:
                v1[name] = path
    return v1, v2


def _parents(controller: str) -> list[tuple[Path, int]]:
    """Directories we could make a child cgroup under for ``controller`` ("cpuacct" or "memory"), best first."""
    own_v1, own_v2 = _own_cgroups()
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    v1: list[tuple[Path, int]] = []
    v2: list[tuple[Path, int]] = []
    for line in mounts:
        fields = line.split()
        if len(fields) < 4:
            continue
        mountpoint, fstype, options = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup" and controller in options and controller in own_v1:
            v1.append((Path(mountpoint) / own_v1[controller].lstrip("/"), 1))
        elif fstype == "cgroup2" and own_v2 is not None:
            parent = Path(mountpoint) / own_v2.lstrip("/")
            if controller == "cpuacct":  # cpu.stat's usage is kept by the core, with or without the cpu controller
                v2.append((parent, 2))
            else:
                try:
                    enabled = controller in (parent / "cgroup.subtree_control").read_text().split()
                except OSError:
                    enabled = False
                if enabled:
                    v2.append((parent, 2))
    return v1 + v2


def make_cgroup(controller: str) -> CgroupDir | None:
    """A fresh child cgroup for ``controller`` ("cpuacct" or "memory"), or None where none can be made here."""
    for parent, version in _parents(controller):
        _sweep_stale(parent, controller, version)
        child = parent / f"swarm-{controller}-{os.getpid()}-{next(_counter)}"
        try:
            child.mkdir()
        except OSError as exc:
            log.debug("no %s cgroup under %s: %s", controller, parent, exc)
            continue
        made = CgroupDir(child, version)
        if controller == "cpuacct" and made.cpu_seconds() is None:
            made.remove()
            continue
        return made
    return None


def _sweep_stale(parent: Path, controller: str, version: int) -> None:
    """Remove the cgroups left behind by a node that died (SIGKILL) mid-run."""
    try:
        entries = list(parent.glob(f"swarm-{controller}-*-*"))
    except OSError:
        return
    for entry in entries:
        try:
            owner = int(entry.name.split("-")[2])
            os.kill(owner, 0)
        except (IndexError, ValueError):
            continue
        except ProcessLookupError:
            CgroupDir(entry, version).remove(timeout=1.0)
        except PermissionError:
            continue


def memory_cgroup(limit_bytes: int) -> CgroupDir | None:
    """A child memory cgroup capped at ``limit_bytes`` (RAM + page cache of the tree), or None where none is allowed."""
    made = make_cgroup("memory")
    if made is None:
        return None
    name = "memory.limit_in_bytes" if made.version == 1 else "memory.max"
    try:
        (made.path / name).write_text(str(int(limit_bytes)))
        if made.version == 2:
            (made.path / "memory.swap.max").write_text("0")
    except FileNotFoundError:
        pass  # no swap accounting: the memory limit alone still holds
    except OSError as exc:
        log.debug("cannot set %s in %s: %s", name, made.path, exc)
        made.remove()
        return None
    return made


def proc_cpu_seconds(pids: Iterable[int]) -> float:
    """Sum of ``utime + stime + cutime + cstime`` of these processes (those that have gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()  # the command name may hold spaces and parentheses
        try:
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        except (IndexError, ValueError):
            continue
    return total / _TICK


class TreeClock:
    """CPU-seconds of one sandboxed tree: from its own cgroup when one can be made, else from ``/proc`` samples.

    Lifecycle: :meth:`open` (before the launch: returns the ``cgroup.procs`` files the launcher joins), then
    :meth:`sample` from the supervisor's loop, :meth:`finished` with the reaped child's rusage, :meth:`close`.
    :meth:`used` may be called from any thread at any time. The budget's share (:meth:`budget_used`) starts at
    :meth:`mark_start` (the first batch served): start-up before it, at most ``startup_cap``, is not charged.
    """

    def __init__(self, *, use_cgroup: bool = True, startup_cap: float = 0.0) -> None:
        self._use_cgroup = use_cgroup
        self._cgroup: CgroupDir | None = None
        self._peak = 0.0
        self._lock = threading.Lock()
        self._startup_cap = startup_cap
        self._start: float | None = None
        self.stopped_at: float | None = None  # budget_used() when data stopped (mark_stop), None until then
        self.source = "none"

    def mark_start(self) -> float:
        """The budget starts now (the first batch): start-up so far, at most ``startup_cap``, is not charged."""
        with self._lock:
            if self._start is None:
                self._start = min(self._peak_now(), self._startup_cap)
            return self._start

    def mark_stop(self, used: float) -> None:
        """Data stopped here with ``used`` CPU-seconds charged: the training window's CPU (kept once, the first)."""
        with self._lock:
            if self.stopped_at is None:
                self.stopped_at = used

    @property
    def startup(self) -> float:
        """CPU-seconds before the budget started (``startup_cap`` while it has not)."""
        return self._start if self._start is not None else self._startup_cap

    def budget_used(self) -> float:
        """CPU-seconds charged to the budget: :meth:`used` less the start-up (negative while start-up lasts)."""
        return self.used() - self.startup

    def _peak_now(self) -> float:
        if self._cgroup is not None:
            value = self._cgroup.cpu_seconds()
            if value is not None:
                self._peak = max(self._peak, value)
        return self._peak

    def open(self) -> Sequence[Path]:
        self._cgroup = make_cgroup("cpuacct") if self._use_cgroup else None
        self.source = f"cgroup v{self._cgroup.version}" if self._cgroup is not None else "/proc tree"
        log.debug("cpu clock: %s", self.source)
        return (self._cgroup.procs,) if self._cgroup is not None else ()

    @property
    def exact(self) -> bool:
        """True when the count comes from the run's own cgroup (reads are then cheap and never miss a task)."""
        return self._cgroup is not None

    def used(self) -> float:
        """CPU-seconds the tree has used so far (monotonic)."""
        with self._lock:
            return self._peak_now()

    def sample(self, pids: Sequence[int]) -> float:
        """Feed one look at the tree (its pids) and return :meth:`used`."""
        if self._cgroup is None and pids:
            value = proc_cpu_seconds(pids)
            with self._lock:
                self._peak = max(self._peak, value)
        return self.used()

    def pids(self) -> list[int]:
        return self._cgroup.pids() if self._cgroup is not None else []

    def finished(self, rusage_seconds: float) -> None:
        """The reaped child's rusage (its own time and its waited-for descendants')."""
        with self._lock:
            self._peak = max(self._peak, rusage_seconds)
            self._peak_now()

    def close(self) -> None:
        if self._cgroup is not None:
            self.used()
            self._cgroup.remove()
