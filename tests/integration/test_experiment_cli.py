"""``swarm-node train``: one tiny experiment through the CLI, summary as JSON; bad input is a clean error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli.main import _register_commands, cli
from tests.integration.test_experiment import tiny_train_py

pytestmark = pytest.mark.slow


def invoke(*args: str) -> tuple[int, str]:
    _register_commands()
    result = CliRunner().invoke(cli, ["train", *args])
    return result.exit_code, result.output


def test_train_command_prints_a_json_summary(tmp_path: Path) -> None:
    train = tmp_path / "train.py"
    train.write_text(tiny_train_py())
    code, out = invoke("--train", str(train), "--budget", "8192-tokens", "--json", "--no-sandbox",
                       "--work-dir", str(tmp_path / "w"))
    record = json.loads(out.strip().splitlines()[-1])
    assert code == 0, out
    assert record["status"] == "ok" and record["steps"] == 8 and record["tokens"] == 8192
    assert record["budget"] == "8192-tokens" and record["hw_class"].startswith(("cpu:", "cuda:", "mps:"))
    assert 0 < record["val_bpb"] < 9


@pytest.mark.parametrize(("args", "message"), [
    (("--budget", "sixty"), "not a budget"),
    (("--data", "/etc/hostname"), "at least"),
])
def test_bad_input_is_a_clean_error(args: tuple[str, ...], message: str) -> None:
    code, out = invoke(*args, "--no-sandbox")
    assert code == 1 and message in out and "Traceback" not in out


def test_a_relative_work_dir_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train = tmp_path / "train.py"
    train.write_text(tiny_train_py())
    monkeypatch.chdir(tmp_path)
    code, out = invoke("--train", "train.py", "--budget", "8192-tokens", "--json", "--work-dir", "runs/here")
    assert code == 0, out
    assert json.loads(out.strip().splitlines()[-1])["status"] == "ok", out[-2000:]
    assert (tmp_path / "runs" / "here").is_dir() and any((tmp_path / "runs" / "here").iterdir())
