"""mypy (strict, the ``[tool.mypy]`` settings of pyproject.toml) over the public APIs: a type error fails the suite.

CHECKED is every package whole: protocol/, trainer/, coordinator/ and node/ (its CLI, runtime, ports, research loop,
net, ledger and feed). py-libp2p itself is not analysed (pyproject: its types are Any), so node/net is checked at the
edge it shows the rest of node/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]

CHECKED = ("protocol", "trainer", "coordinator", "node")

pytestmark = pytest.mark.slow


def mypy(*targets: str) -> tuple[int, str]:
    """Run mypy in-process from the project root with its pyproject settings; (exit status, report)."""
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), *targets])
    finally:
        os.chdir(cwd)
    return status, out + err


def test_the_public_apis_type_check() -> None:
    assert all((ROOT / target).exists() for target in CHECKED)
    status, report = mypy(*CHECKED)
    assert status == 0, report


def test_a_type_error_fails_the_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad_api.py"
    bad.write_text("def seq_of(raw: bytes) -> int:\n    return raw.hex()\n\n\ndef untyped(x):\n    return x\n")
    status, report = mypy(str(bad))
    assert status == 1
    assert 'Incompatible return value type (got "str", expected "int")' in report
    assert "Function is missing a type annotation" in report  # strict: an untyped def on an API fails too
