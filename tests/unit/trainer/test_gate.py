from __future__ import annotations

import pytest

from trainer import GateError, check_train_py, default_train_py


def test_default_train_py_passes() -> None:
    assert check_train_py(default_train_py()) == default_train_py()


@pytest.mark.parametrize(("source", "kwargs", "why"), [
    ("x = 1\n", {"path": "program.md"}, "only train.py"),
    ("x = 1\n", {"mode": 0o100755}, "mode"),
    ("x = (\n", {}, "does not parse"),
    ("   \n", {}, "empty"),
    (b"x = '\xff'\n", {}, "UTF-8"),
    ("x = 1\x00\n", {}, "NUL"),
    ("#" * (64 * 1024 + 1), {}, "limit"),
])
def test_gate_rejects(source: str | bytes, kwargs: dict[str, object], why: str) -> None:
    with pytest.raises(GateError, match=why):
        check_train_py(source, **kwargs)  # type: ignore[arg-type]


def test_bytes_in_text_out() -> None:
    assert check_train_py(b"print('hi')\n", mode=0o100644) == "print('hi')\n"
