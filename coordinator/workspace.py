"""The git workspace of one swarm: baseline commit, kept commits on the branch, discarded ones off it, merge3.

Only subprocess git with argument lists (never a shell), each call bounded by a timeout, with an identity passed by
``-c`` so that it works on machines with no git configuration. The repository holds one file, ``train.py``; its blob
id is what the swarm dedupes on. The baseline commit is deterministic (fixed identity, date and message), so every node
of a swarm has the same baseline commit id.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from coordinator.errors import WorkspaceError
from protocol.hashing import git_blob_hash

__all__ = ["Workspace", "LogEntry", "blob_hash", "merge3", "commit_message", "FILE_NAME"]

log = logging.getLogger(__name__)

FILE_NAME = "train.py"
GIT_TIMEOUT = 30.0
IDENTITY = ("-c", "user.name=swarm-node", "-c", "user.email=swarm-node@localhost",
            "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", "-c", "init.defaultBranch=main")
BASELINE_DATE = "1700000000 +0000"
BASELINE_MESSAGE = "baseline\n"


def blob_hash(text: str) -> str:
    """The git blob id of a train.py text (what ``git hash-object`` gives): the swarm's dedupe key, spelled once in
    :func:`protocol.git_blob_hash` (this takes the text, that the bytes)."""
    return git_blob_hash(text.encode("utf-8"))


@dataclass(frozen=True)
class LogEntry:
    """One commit on the workspace's line, newest first in :meth:`Workspace.log`."""

    commit: str
    parent: str
    message: str


def _run_git(args: Sequence[str], *, cwd: Path | None, stdin: str | None = None,
             env: dict[str, str] | None = None, ok_codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    if env:
        full_env.update(env)
    try:
        proc = subprocess.run(["git", *IDENTITY, *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, env=full_env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WorkspaceError(f"git {args[0]} failed: {exc}") from exc
    if proc.returncode not in ok_codes:
        raise WorkspaceError(f"git {' '.join(args[:2])} exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    return proc


def merge3(base: str, ours: str, theirs: str) -> str | None:
    """Three-way merge of two edits of ``base`` (``git merge-file -p``); None when they conflict."""
    with tempfile.TemporaryDirectory(prefix="swarm-merge-") as tmp:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        proc = _run_git(["merge-file", "-p", *paths], cwd=Path(tmp), ok_codes=tuple(range(0, 128)))
    if proc.returncode != 0:  # >0: number of conflicts
        return None
    return proc.stdout


class Workspace:
    """A git repository holding this node's line of train.py for one swarm."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not (self.path / ".git").is_dir():
            raise WorkspaceError(f"{self.path} is not a workspace (no .git)")

    @classmethod
    def open_or_create(cls, path: Path, baseline: str) -> Workspace:
        """Open the workspace at ``path``, or create it with ``baseline`` as its first commit.

        An existing workspace resumes from its HEAD (the last kept commit); a half-written train.py left by a crash is
        put back to HEAD.
        """
        path = Path(path)
        if (path / ".git").is_dir():
            ws = cls(path)
            ws.reset()
            return ws
        path.mkdir(parents=True, exist_ok=True)
        _run_git(["init", "-q", str(path)], cwd=None)
        ws = cls(path)
        env = {"GIT_AUTHOR_DATE": BASELINE_DATE, "GIT_COMMITTER_DATE": BASELINE_DATE}
        commit = ws._make_commit(baseline, BASELINE_MESSAGE, parent=None, env=env)
        ws._git("update-ref", "HEAD", commit)
        ws.reset()
        log.info("created workspace %s at baseline %s", path, commit[:10])
        return ws

    def _git(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        return _run_git(args, cwd=self.path, stdin=stdin, env=env).stdout

    def _make_commit(self, text: str, message: str, *, parent: str | None,
                     env: dict[str, str] | None = None) -> str:
        blob = self._git("hash-object", "-w", "--stdin", stdin=text).strip()
        tree = self._git("mktree", stdin=f"100644 blob {blob}\t{FILE_NAME}\n").strip()
        args = ["commit-tree", tree, "-F", "-"]
        if parent:
            args += ["-p", parent]
        return self._git(*args, stdin=message, env=env).strip()

    def head(self) -> str:
        """The commit id of HEAD: the last kept experiment (or the baseline)."""
        return self._git("rev-parse", "HEAD").strip()

    def head_text(self) -> str:
        """The train.py of HEAD."""
        return self.text_of(self.head())

    def text_of(self, commit: str) -> str:
        """The train.py of a commit of this repository."""
        return self._git("cat-file", "blob", f"{commit}:{FILE_NAME}")

    def baseline(self) -> str:
        """The first commit of the line (deterministic: the same id on every node of the swarm)."""
        return self._git("rev-list", "--max-parents=0", "HEAD").strip().splitlines()[-1]

    def blob_of(self, text: str) -> str:
        """The git blob id of ``text`` (no write)."""
        return blob_hash(text)

    def commit_kept(self, text: str, message: str) -> str:
        """Commit a kept train.py on the line (HEAD moves) and check it out; return the commit id."""
        commit = self._make_commit(text, message, parent=self.head())
        self._git("update-ref", "HEAD", commit)
        self.reset()
        return commit

    def commit_discarded(self, text: str, message: str) -> str:
        """Record a discarded train.py as a commit off the line (HEAD stays); return its id for the result."""
        commit = self._make_commit(text, message, parent=self.head())
        self.reset()
        return commit

    def write_candidate(self, text: str) -> None:
        """Put a candidate train.py in the working tree (what the user sees while it trains)."""
        (self.path / FILE_NAME).write_text(text, encoding="utf-8")

    def reset(self) -> None:
        """Throw away any uncommitted change: the working tree is HEAD again."""
        self._git("reset", "-q", "--hard", "HEAD")

    def log(self, limit: int = 1000) -> list[LogEntry]:
        """The line's commits, newest first."""
        out = self._git("log", f"--max-count={limit}", "--format=%H%x00%P%x00%B%x1e")
        entries = []
        for chunk in out.split("\x1e"):
            chunk = chunk.strip("\n")
            if not chunk:
                continue
            commit, parents, message = chunk.split("\x00", 2)
            entries.append(LogEntry(commit=commit, parent=parents.split(" ")[0] if parents else "",
                                    message=message.strip()))
        return entries


def commit_message(description: str, metric: float, *, status: str, hw_class: str, action: str) -> str:
    """The message of an experiment's commit: the description, then the figures as trailers."""
    first = " ".join(description.split())[:200] or "(no description)"
    return f"{first}\n\nval_bpb: {metric:.6f}\nstatus: {status}\nhw_class: {hw_class}\naction: {action}\n"
