"""Shared fixtures: every test runs with its child processes reaped, and the project's own packages imported."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Iterator

import psutil
import pytest

# A test run started in the background of a shell (`... &`) inherits SIGINT ignored, and so would every node and CLI
# process it starts: the tests that stop one with Ctrl-C would wait for ever (seen as "slow shutdown" in three full
# runs of this round). A handled signal goes back to its default in a child at exec, so handle it here.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to run against a stray ``node``/``protocol``/... package from elsewhere on sys.path."""
    from node.packaging import check_own_packages

    problem = check_own_packages()
    if problem is not None:
        raise pytest.UsageError(problem)


@pytest.fixture(autouse=True)
def reap_children() -> Iterator[None]:
    """Kill whatever child processes a test leaves behind (nodes, sandboxes, fake servers)."""
    yield
    me = psutil.Process(os.getpid())
    children = me.children(recursive=True)
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(children, timeout=5)


@pytest.fixture()
def node_home(tmp_path: Path) -> Path:
    """A fresh node home directory (what ``~/.swarm-node`` is in real use)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return home
