"""The observer behind ``swarm-node feed JOIN_STRING``: a ``join --watch`` child on its own home, and the check that
its ledger holds the swarm yet."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import click

__all__ = ["holds_manifest", "observer"]


def holds_manifest(ledger_path: Path, swarm_id: bytes) -> bool:
    """Whether the ledger at ``ledger_path`` holds the swarm's manifest; False while the file is missing or its
    writer (the observer node, starting) has not made its schema yet, which reads as an old version."""
    from node.errors import LedgerSchemaError
    from node.ledger import Ledger

    if not ledger_path.exists():
        return False
    try:
        with Ledger(ledger_path, readonly=True) as ledger:
            return ledger.get_manifest(swarm_id) is not None
    except LedgerSchemaError as exc:
        if "newer than" in str(exc):
            raise
        return False


@contextlib.contextmanager
def observer(join_string: str, home: Path | None) -> Iterator[tuple[Path, str]]:
    """A ``join --watch`` child process on its own home; yields (home, swarm hex) once its ledger holds the swarm."""
    from node.config import load_config
    from node.joinstring import parse_join

    try:
        target = parse_join(join_string)
    except Exception as exc:  # JoinStringError carries the fix
        raise click.ClickException(str(exc)) from exc
    observer_home = home or load_config().home / "observer"
    observer_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = observer_home / "observer.log"
    with log_path.open("ab") as log_file:
        argv = [sys.executable, "-m", "node", "join", join_string, "--watch", "--home", str(observer_home)]
        if "SWARM_NODE_LISTEN" not in os.environ:
            argv += ["--listen", "/ip4/0.0.0.0/tcp/0"]  # any free port: a node of this machine may hold 4001
        child = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        click.echo(f"observer node starting (log: {log_path}) ...", err=True)
        deadline = time.monotonic() + 60
        while True:
            if child.poll() is not None:
                raise click.ClickException(f"the observer node stopped (exit {child.returncode}); see {log_path}")
            if holds_manifest(observer_home / "ledger.sqlite", target.swarm_id):
                break
            if time.monotonic() > deadline:
                raise click.ClickException(f"no manifest for the swarm after 60 s: are its peers reachable? "
                                           f"see {log_path}")
            time.sleep(0.5)
        yield observer_home, target.swarm_id.hex()
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
