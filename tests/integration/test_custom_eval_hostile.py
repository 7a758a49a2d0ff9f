"""A custom evaluate.py is untrusted code: the network, the node's key, a write outside its work dir, a loop that never
ends and a "nan" are each contained and a crash result with the reason, never a score (a real sandbox each)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.integration.cheats import needs_sandbox
from trainer.tasks.custom import run_custom_evaluator

pytestmark = needs_sandbox


def _run(tmp_path: Path, source: str, max_seconds: float = 20.0) -> tuple[float | None, str]:
    (tmp_path / "model.ts").write_bytes(b"not really a model")
    (tmp_path / "val.bin").write_bytes(b"held-out bytes")
    result = run_custom_evaluator(source, tmp_path / "model.ts", "torchscript", tmp_path / "val.bin",
                                  tmp_path / "work", readable=(Path(sys.prefix),), max_seconds=max_seconds)
    assert result.sandboxed
    value = dict(result.metrics).get("score")
    assert (value is None) == bool(result.reason)
    return value, result.reason


def test_an_honest_evaluate_py_is_scored(tmp_path: Path) -> None:
    source = "import sys\nprint('model', len(open(sys.argv[1], 'rb').read()), 'bytes')\nprint(0.25)\n"
    assert _run(tmp_path, source) == (0.25, "")


def test_the_network_is_unreachable(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    source = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint(1.0)\n"
    value, reason = _run(tmp_path, source)
    assert value is None and "exited with code 1" in reason and "Error" in reason
    with pytest.raises(socket.timeout):
        listener.accept()  # nothing came through
    listener.close()


def test_the_nodes_key_and_files_are_not_there(tmp_path: Path, node_home: Path) -> None:
    key = node_home / "identity.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes(b"secret key bytes")
    value, reason = _run(tmp_path, f"print(len(open({str(key)!r}, 'rb').read()))\n")
    assert value is None and "FileNotFoundError" in reason


def test_a_write_outside_its_work_dir_never_reaches_the_host(tmp_path: Path) -> None:
    """A path beside its work dir lands in the sandbox's own tmpfs (gone with it); the Python environment is
    read-only, so the write there fails and the run is a crash."""
    outside = tmp_path / "escaped.txt"
    venv = Path(sys.prefix) / "escaped.txt"
    source = f"open({str(outside)!r}, 'w').write('x')\nopen({str(venv)!r}, 'w').write('x')\nprint(1.0)\n"
    value, reason = _run(tmp_path, source)
    assert value is None and "exited with code 1" in reason and "Read-only file system" in reason
    assert not outside.exists() and not venv.exists()


def test_a_loop_that_never_ends_is_a_timeout(tmp_path: Path) -> None:
    value, reason = _run(tmp_path, "while True:\n    pass\n", max_seconds=3.0)
    assert value is None and "timed out after 3 s" in reason


@pytest.mark.parametrize(("printed", "why"), [("nan", "finite"), ("inf", "finite"), ("0.5 points", "not a number"),
                                              ("", "printed nothing")])
def test_a_score_that_is_not_one_finite_number_is_a_crash(tmp_path: Path, printed: str, why: str) -> None:
    value, reason = _run(tmp_path, f"print({printed!r})\n")
    assert value is None and why in reason
