"""The gate: a lint on a proposed train.py before it runs (a check, not a security boundary: the sandbox is that)."""

from __future__ import annotations

import ast

from trainer.errors import GateError

__all__ = ["MAX_TRAIN_PY_BYTES", "check_train_py"]

MAX_TRAIN_PY_BYTES = 64 * 1024


def check_train_py(source: str | bytes, *, path: str = "train.py", mode: int | None = None) -> str:
    """Return the source as text if it passes; raise ``GateError`` saying why not.

    Passes: the file is ``train.py`` (mode 100644 when given), at most 64 KiB, UTF-8 text without NUL bytes, and
    parses as Python.
    """
    if path != "train.py":
        raise GateError(f"only train.py may change, not {path!r}")
    if mode is not None and mode != 0o100644:
        raise GateError(f"train.py must have mode 100644, not {mode:o}")
    raw = source.encode("utf-8") if isinstance(source, str) else bytes(source)
    if len(raw) > MAX_TRAIN_PY_BYTES:
        raise GateError(f"train.py is {len(raw)} bytes; the limit is {MAX_TRAIN_PY_BYTES}")
    if not raw.strip():
        raise GateError("train.py is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GateError(f"train.py is not UTF-8 (byte {exc.start})") from exc
    if "\x00" in text:
        raise GateError("train.py contains a NUL byte")
    try:
        ast.parse(text, filename="train.py")
    except SyntaxError as exc:
        raise GateError(f"train.py does not parse: line {exc.lineno}: {exc.msg}") from exc
    return text
