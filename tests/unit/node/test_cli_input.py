"""Bad input from outside, through the real CLI: each a clear error naming the problem and the fix (never a
traceback, a hang or a silent wrong turn), or the right behaviour."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner, Result

from node.cli.main import _register_commands, cli

_register_commands()

PROGRAM = "# Tiny\nLower val_bpb. You may edit train.py only.\n"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_clean_error(result: Result, *words: str) -> None:
    """A non-zero exit with a one-line message, not an exception that escaped click."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)


@pytest.mark.parametrize("command", [["status"], ["join", "--watch"], ["export", "-"]])
def test_a_binary_config_file_is_a_clear_error(node_home: Path, command: list[str]) -> None:
    (node_home / "config.toml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
    (node_home / "ledger.sqlite").touch()
    assert_clean_error(run(*command, "--home", str(node_home)), "config.toml", "not UTF-8",
                       "docs/config.example.toml")


def test_a_config_fifo_is_refused_without_hanging(node_home: Path) -> None:
    os.mkfifo(node_home / "config.toml")
    assert_clean_error(run("status", "--home", str(node_home)), "not a regular file")


def test_join_with_an_empty_join_string_refuses_instead_of_joining_the_builtin_swarm(node_home: Path) -> None:
    assert_clean_error(run("join", "", "--home", str(node_home)), "empty join string")
    assert not (node_home / "ledger.sqlite").exists()


def test_feed_with_an_empty_join_string_refuses(node_home: Path) -> None:
    assert_clean_error(run("feed", "", "--home", str(node_home)), "empty join string")


def _status_of(home: Path, node_json: dict[str, object]) -> Result:
    from node.ledger import Ledger

    Ledger(home / "ledger.sqlite").close()
    (home / "node.json").write_text(json.dumps(node_json))
    return run("status", "--home", str(home))


def test_status_after_a_sigkill_says_not_running(node_home: Path) -> None:
    dead = max(psutil.pids()) + 10_000  # no process has this pid
    while psutil.pid_exists(dead):
        dead += 1
    result = _status_of(node_home, {"pid": dead, "peer_id": "12D3KooWx", "addrs": [], "started_at": time.time()})
    assert result.exit_code == 0, result.output
    assert "running, pid" not in result.output and "not running" in result.output
    assert "stale" in result.output and str(dead) in result.output
    data = json.loads(run("status", "--home", str(node_home), "--json").output)
    assert data["node"] is None and data["stale_node_file"]["pid"] == dead


def test_status_sees_through_a_reused_pid(node_home: Path) -> None:
    me = psutil.Process()
    # this pid's process started after the node file was written: the pid was reused, that node is gone
    result = _status_of(node_home, {"pid": me.pid, "started_at": me.create_time() - 3600})
    assert "not running" in result.output and "stale" in result.output, result.output


def test_status_shows_a_live_node(node_home: Path) -> None:
    me = psutil.Process()
    result = _status_of(node_home, {"pid": me.pid, "peer_id": "12D3KooWx", "addrs": ["/ip4/1.2.3.4/tcp/1"],
                                    "started_at": me.create_time() + 1})
    assert f"running, pid {me.pid}" in result.output and "12D3KooWx" in result.output, result.output


def test_status_with_a_garbled_node_file_says_so(node_home: Path) -> None:
    from node.ledger import Ledger

    Ledger(node_home / "ledger.sqlite").close()
    (node_home / "node.json").write_bytes(b"\xff{not json")
    result = run("status", "--home", str(node_home))
    assert result.exit_code == 0 and "not running" in result.output, result.output


def test_a_huge_program_md_is_refused_before_it_is_read(tmp_path: Path) -> None:
    program = tmp_path / "program.md"
    with program.open("wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB, sparse: no disk used
    tracemalloc.start()
    try:
        result = run("seed", str(program), "--home", str(tmp_path / "home"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_clean_error(result, "program.md", "larger than")
    assert peak < 50 << 20, f"{peak:,} bytes allocated: the file was read"


def test_a_fifo_as_program_md_is_refused_without_hanging(tmp_path: Path) -> None:
    program = tmp_path / "program.md"
    os.mkfifo(program)
    assert_clean_error(run("seed", str(program), "--home", str(tmp_path / "home")), "not a regular file")


@pytest.mark.parametrize("problem", ["program", "train", "budget"])
def test_a_failed_seed_leaves_nothing_behind(tmp_path: Path, problem: str) -> None:
    home = tmp_path / "home"
    program = tmp_path / "program.md"
    program.write_text("no metric here\n" if problem == "program" else PROGRAM)
    train = tmp_path / "train.py"
    train.write_text("import os\nos.system('x'\n")  # does not parse
    args = ["seed", str(program), "--home", str(home), "--budget", "nonsense" if problem == "budget" else "5s"]
    if problem == "train":
        args += ["--train", str(train)]
    assert_clean_error(run(*args))
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*")) if home.exists() else []
    assert not (home / "identity.key").exists() and not (home / "cache").exists(), left


def test_a_successful_seed_keeps_its_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    program = tmp_path / "program.md"
    program.write_text(PROGRAM)
    result = run("seed", str(program), "--home", str(home), "--budget", "5s")
    assert result.exit_code == 0, result.output
    assert "swarm id:" in result.output and (home / "identity.key").is_file()
    assert any(p.name == "corpus" for p in (home / "cache").rglob("*"))


def test_train_refuses_a_fifo_as_train_py(tmp_path: Path) -> None:
    fifo = tmp_path / "train.py"
    os.mkfifo(fifo)
    assert_clean_error(run("train", "--train", str(fifo), "--no-sandbox"), "not a regular file")
