"""Reading a file that the user named (config.toml, program.md, train.py): bounded, and never blocking.

:func:`read_bounded` opens without blocking (a FIFO or a device would otherwise hang the open or the read), refuses
anything but a regular file, checks the size from ``fstat`` before reading a byte, and then reads at most the limit
(a file that grows while it is read is still cut off). :func:`read_text` adds strict UTF-8.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from node.errors import InputFileError

__all__ = ["read_bounded", "read_text"]


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit >= 1024 else f"{limit} bytes"


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); ``what`` names it in the error ("program.md")."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputFileError(f"{what} {path} cannot be opened: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(f"{what} {path} is not a regular file (a pipe, device or folder): give the path of "
                                 "a plain file")
        if info.st_size > limit:
            raise InputFileError(f"{what} {path} is {info.st_size:,} bytes, larger than the {_size(limit)} allowed: "
                                 "shorten it")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise InputFileError(f"{what} {path} cannot be read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise InputFileError(f"{what} {path} grew past the {_size(limit)} allowed while it was read: shorten it")
    return data


def read_text(path: Path, limit: int, what: str) -> str:
    """:func:`read_bounded`, decoded as strict UTF-8."""
    data = read_bounded(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{what} {path} is not UTF-8 text (byte {exc.start} cannot be decoded): save it as "
                             "UTF-8") from exc
