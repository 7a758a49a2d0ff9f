"""Supervising one sandboxed process tree: output drained continuously, the wall clock, the watchdog, the kill.

:class:`Supervisor` starts the command in its own process group and, in one loop until it ends:

- reads stdout and stderr as they come (never blocking the child, never buffering more than the tail it keeps):
  the last ``output_bytes`` of both, interleaved by arrival, are kept; complete stdout lines (cut at 8 KiB) go to
  ``on_line``;
- samples the tree (the cgroup's members every 100 ms, else a psutil scan every 500 ms): summed RSS for the peak, and
  the process count: more than allowed and the tree is killed, with a ``[sandbox] killed: ...`` line in the tail;
- feeds each sample to the run's :class:`~trainer.cpuclock.TreeClock` (CPU-seconds of the whole tree, read from
  outside it); past ``cpu_kill_at`` CPU-seconds charged to the budget (:meth:`~trainer.cpuclock.TreeClock.budget_used`)
  the tree is killed (``killed_for_cpu``);
- at the deadline, or when the tree holds more processes than allowed, SIGKILLs the group, the descendants it can
  see and the cgroup, and reaps the child (``wait4``). With ``wall_stretch`` > 0 (CPU-budget runs), the time the tree
  spent runnable but waiting for a CPU (``run_delay`` in ``/proc/<pid>/task/<tid>/schedstat``, the busiest task's)
  moves the deadline back, up to ``wall_stretch`` times the timeout: on a machine busy with other work an honest run
  gets its share of a core, not a kill, while a tree that sleeps or blocks still meets the wall net on time. Waiting
  for a CPU cannot be bought without using CPU, which the CPU budget charges.

The command is started with no ``preexec_fn`` (unsafe from threads): limits and cgroups are set by the launcher at
the head of its command line (:meth:`trainer.rlimits.RlimitPlan.launcher`).
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import psutil

from trainer.cpuclock import TreeClock
from trainer.rlimits import PidsCgroup

__all__ = ["Outcome", "Supervisor", "OutputTail", "LineSplitter", "MAX_LINE"]

log = logging.getLogger(__name__)

MAX_LINE = 8192  # bytes of one stdout line handed to on_line; the rest of a longer line is dropped
_SAMPLE_EVERY = 0.1  # with a cgroup; 0.5 s without (psutil scans all of /proc)
_PAGE = os.sysconf("SC_PAGE_SIZE")
_EXIT_GRACE = 0.5  # after the child exits, how long stray holders of its pipes may keep them open
_REAP_LIMIT = 10.0  # after SIGKILL, how long we wait for the child to be reaped
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Outcome:
    returncode: int | None
    timed_out: bool
    wall_seconds: float
    output_tail: str
    output_truncated: bool
    peak_rss_mb: float
    cpu_seconds: float = 0.0  # CPU-seconds of the whole tree (its clock; at least the reaped child's rusage)
    killed_for_cpu: bool = False  # killed past cpu_kill_at
    waited_seconds: float = 0.0  # the busiest task's time runnable but waiting for a CPU (schedstat run_delay)


class OutputTail:
    """The last ``limit`` bytes of a stream of chunks, in bounded memory."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.total = 0
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self._buf += chunk[-self.limit:] if self.limit else b""
        if len(self._buf) > 2 * self.limit:
            del self._buf[: len(self._buf) - self.limit]

    @property
    def truncated(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        data = bytes(self._buf[-self.limit:]) if self.limit else b""
        return data.decode("utf-8", errors="replace")


class LineSplitter:
    """Cuts a byte stream into lines for ``on_line``; a line longer than ``MAX_LINE`` is cut there."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._partial = bytearray()
        self._overflow = False
        self._failed = False

    def feed(self, chunk: bytes) -> None:
        start = 0
        while True:
            newline = chunk.find(b"\n", start)
            piece = chunk[start:] if newline < 0 else chunk[start:newline]
            room = MAX_LINE - len(self._partial)
            if len(piece) > room:
                self._overflow = True
            if room > 0:
                self._partial += piece[:room]
            if newline < 0:
                return
            self._emit()
            start = newline + 1

    def _emit(self) -> None:
        line = bytes(self._partial).decode("utf-8", errors="replace").rstrip("\r")
        self._partial.clear()
        self._overflow = False
        try:
            self._on_line(line)
        except Exception:  # a progress callback must not leave a sandbox running
            if not self._failed:
                log.exception("on_line callback failed (further failures are not logged)")
            self._failed = True


class Supervisor:
    """One command, started by :meth:`run` and watched until it ends or is killed."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], pass_fds: Sequence[int],
                 stdin: bytes | None, on_line: Callable[[str], None] | None,
                 output_bytes: int, max_processes: int, cgroup: PidsCgroup | None,
                 clock: TreeClock | None = None, cpu_kill_at: float | None = None,
                 wall_stretch: float = 0.0) -> None:
        self._argv = list(argv)
        self._cwd = cwd
        self._env = dict(env)
        self._pass_fds = tuple(pass_fds)
        self._clock = clock if clock is not None else TreeClock(use_cgroup=False)
        self._cpu_kill_at = cpu_kill_at
        self._killed_for_cpu = False
        self._stdin = stdin
        self._tail = OutputTail(output_bytes)
        self._lines = LineSplitter(on_line) if on_line is not None else None
        self._max_processes = max_processes
        self._cgroup = cgroup
        self._proc: subprocess.Popen[bytes] | None = None
        self._status: int | None = None
        self._peak_rss = 0
        self._wall_stretch = max(0.0, wall_stretch)
        self._run_delay: dict[int, int] = {}  # tid -> its latest run_delay (ns); a task that ended keeps its last

    def waited(self) -> float:
        """Seconds the busiest task of the tree waited, runnable, for a CPU (so far)."""
        return max(self._run_delay.values(), default=0) / 1e9

    def run(self, wall_timeout: float) -> Outcome:
        start = time.monotonic()
        proc = subprocess.Popen(
            self._argv, cwd=self._cwd, env=self._env, pass_fds=self._pass_fds,
            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if self._stdin is not None else subprocess.DEVNULL,
        )
        self._proc = proc
        killed = timed_out = False
        try:
            killed, timed_out = self._loop(proc, start, wall_timeout)
        finally:
            if self._status is None:  # an exception (or the loop ended early): never leave the tree running
                self._kill(proc)
                killed = True
                self._reap(proc, timeout=10.0)
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None and not stream.closed:
                    stream.close()
        wall = time.monotonic() - start
        returncode = None if killed or self._status is None else _exit_code(self._status)
        # The sampled RSS of the tree only: the child's ru_maxrss also holds the high-water mark of the mm it was
        # (v)forked from, the runner's own (hundreds of MB once torch is imported), kept by the kernel at exec.
        peak_mb = self._peak_rss / 2**20
        return Outcome(returncode=returncode, timed_out=timed_out, wall_seconds=wall, output_tail=self._tail.text(),
                       output_truncated=self._tail.truncated, peak_rss_mb=peak_mb, cpu_seconds=self._clock.used(),
                       killed_for_cpu=self._killed_for_cpu, waited_seconds=round(self.waited(), 3))

    def _loop(self, proc: subprocess.Popen[bytes], start: float, wall_timeout: float) -> tuple[bool, bool]:
        """Drain and watch until the child is reaped and its pipes are closed; (killed, timed_out)."""
        deadline = start + wall_timeout
        sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        for stream, is_stdout in ((proc.stdout, True), (proc.stderr, False)):
            os.set_blocking(stream.fileno(), False)
            sel.register(stream.fileno(), selectors.EVENT_READ, is_stdout)
        pending_stdin = memoryview(self._stdin) if self._stdin is not None else None
        if proc.stdin is not None:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, None)
        killed = timed_out = False
        killed_at = exited_at = None
        next_sample = 0.0
        try:
            while True:
                now = time.monotonic()
                if exited_at is None:
                    if now >= next_sample:
                        next_sample = now + (_SAMPLE_EVERY if self._cgroup is not None else 5 * _SAMPLE_EVERY)
                        if self._sample(proc) > self._max_processes and not killed:
                            log.warning("sandbox: process tree over %d processes, killing it", self._max_processes)
                            self._tail.feed(b"\n[sandbox] killed: more than %d processes\n" % self._max_processes)
                            killed, killed_at = True, now
                            self._kill(proc)
                        if self._wall_stretch:
                            deadline = start + wall_timeout + min(self.waited(), self._wall_stretch * wall_timeout)
                        used = self._clock.budget_used()
                        if self._cpu_kill_at is not None and used > self._cpu_kill_at and not killed:
                            log.info("sandbox: tree used %.1f CPU-s, over %.1f: killing it", used, self._cpu_kill_at)
                            self._tail.feed(b"\n[sandbox] killed: %.1f CPU-seconds used, the limit is %.1f\n"
                                            % (used, self._cpu_kill_at))
                            killed, killed_at, self._killed_for_cpu = True, now, True
                            self._kill(proc)
                    if now >= deadline and not killed:
                        killed, timed_out, killed_at = True, True, now
                        self._kill(proc)
                    if killed_at is not None and now - killed_at > _REAP_LIMIT:
                        log.error("sandbox: pid %d did not exit %.0f s after SIGKILL", proc.pid, _REAP_LIMIT)
                        break
                elif not sel.get_map():
                    break
                elif now - exited_at > _EXIT_GRACE:
                    self._kill(proc)  # stray holders of the pipes (only possible without a pid namespace)
                    break
                if exited_at is not None:  # only the last bytes in the pipes are left to read
                    wait = min(0.05, _EXIT_GRACE - (now - exited_at))
                else:
                    wait = min(next_sample - now, _SAMPLE_EVERY)
                    if not killed:
                        wait = min(wait, deadline - now)
                wait = max(0.0, wait)
                if sel.get_map():
                    for key, _events in sel.select(wait):
                        if key.data is None:
                            pending_stdin = self._write_stdin(sel, proc, pending_stdin)
                        else:
                            self._read(sel, key.fd, bool(key.data))
                else:
                    time.sleep(min(wait, 0.01))
                if exited_at is None and self._poll(proc):
                    exited_at = time.monotonic()
        finally:
            sel.close()
        if self._cgroup is not None:
            self._cgroup.kill_all()
        return killed, timed_out

    def _read(self, sel: selectors.BaseSelector, fd: int, is_stdout: bool) -> None:
        try:
            chunk = os.read(fd, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(fd)
            return
        self._tail.feed(chunk)
        if is_stdout and self._lines is not None:
            self._lines.feed(chunk)

    def _write_stdin(self, sel: selectors.BaseSelector, proc: subprocess.Popen[bytes],
                     pending: memoryview | None) -> memoryview | None:
        assert proc.stdin is not None
        try:
            written = os.write(proc.stdin.fileno(), pending[:65536]) if pending else 0
        except BlockingIOError:
            return pending
        except OSError:  # the child closed its stdin
            written, pending = 0, None
        if pending is not None:
            pending = pending[written:]
        if not pending:
            sel.unregister(proc.stdin.fileno())
            proc.stdin.close()
            return None
        return pending

    def _poll(self, proc: subprocess.Popen[bytes]) -> bool:
        """Reap the child if it has exited (keeping its rusage); True once reaped."""
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status, usage = proc.pid, 0, None
        if pid == 0:
            return False
        self._status = status
        proc.returncode = _exit_code(status)
        if usage is not None:
            self._clock.finished(usage.ru_utime + usage.ru_stime)
        return True

    def _reap(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        end = time.monotonic() + timeout
        while self._status is None and not self._poll(proc):
            if time.monotonic() > end:
                log.error("sandbox: pid %d did not exit after SIGKILL", proc.pid)
                return
            time.sleep(0.005)

    def _sample(self, proc: subprocess.Popen[bytes]) -> int:
        """Sum the RSS of the tree into the peak; return how many processes it holds.

        With a cgroup its member list is the tree (a few small reads); without, psutil scans /proc (about 10 ms on a
        loaded machine with a hundred processes, hence the slower pace in that case).
        """
        if self._cgroup is not None:
            pids = self._cgroup.pids()
        else:
            try:
                pids = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
            except psutil.Error:
                return 0
        self._clock.sample(pids)
        if self._wall_stretch:
            self._sample_waits(pids)
        rss = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/statm", "rb") as f:
                    rss += int(f.read().split()[1]) * _PAGE
            except (OSError, ValueError, IndexError):
                pass
        self._peak_rss = max(self._peak_rss, rss)
        return len(pids)

    def _sample_waits(self, pids: Sequence[int]) -> None:
        """Note each task's run_delay (its second schedstat field, ns; absent where the kernel keeps no sched info)."""
        for pid in pids:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as handle:
                        delay = int(handle.read().split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                self._run_delay[int(tid)] = max(delay, self._run_delay.get(int(tid), 0))

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the group, every descendant psutil can see, and the cgroup (bwrap's pid namespace then collapses)."""
        try:
            descendants = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for child in descendants:
            try:
                child.kill()
            except psutil.Error:
                pass
        if self._cgroup is not None:
            self._cgroup.kill_all(timeout=1.0)
        for pid in self._clock.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _exit_code(status: int) -> int:
    """0-255 for an exit, 128+N for death by signal N (what bubblewrap reports for its child, too)."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
