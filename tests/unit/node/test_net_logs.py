"""libp2p's loggers are kept off the terminal and go to a file when asked."""

from __future__ import annotations

import logging
from pathlib import Path


from node.net.logs import route_libp2p_logs


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _with_root_handler(fn) -> list[str]:  # type: ignore[no-untyped-def]
    root, handler = logging.getLogger(), Collect()
    root.addHandler(handler)
    try:
        fn()
    finally:
        root.removeHandler(handler)
    return handler.messages


def test_libp2p_warnings_go_to_the_file_not_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "libp2p.log"
    route_libp2p_logs(path)
    seen = _with_root_handler(lambda: logging.getLogger("libp2p.network.swarm").warning("peer hung up (normal)"))
    assert seen == []
    for handler in logging.getLogger("libp2p").handlers:
        handler.flush()
    assert "peer hung up (normal)" in path.read_text()
    route_libp2p_logs(None)  # detach again: no file handler left behind
    assert not [h for h in logging.getLogger("libp2p").handlers if h.get_name() == "swarm-node-libp2p"]


def test_verbose_lets_them_through() -> None:
    route_libp2p_logs(None, verbose=True)
    try:
        seen = _with_root_handler(lambda: logging.getLogger("libp2p.pubsub").debug("graft"))
        assert seen == ["graft"]
    finally:
        route_libp2p_logs(None)


def test_the_log_file_is_rotated_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "libp2p.log"
    route_libp2p_logs(path, max_bytes=4096, backups=2)
    try:
        log = logging.getLogger("libp2p.network.swarm")
        for i in range(400):  # ~40 KiB of records, ten times the file's limit
            log.warning("dial %04d raced another dial to the same peer", i)
    finally:
        route_libp2p_logs(None)
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["libp2p.log", "libp2p.log.1", "libp2p.log.2"]
    assert all((path.parent / name).stat().st_size <= 4096 for name in files)
    assert "dial 0399" in path.read_text()  # the newest records are in the live file


def test_the_default_limit_keeps_the_file_small(tmp_path: Path) -> None:
    from node.net.logs import LOG_BACKUPS, LOG_MAX_BYTES

    assert LOG_MAX_BYTES * (1 + LOG_BACKUPS) <= 64 << 20
    route_libp2p_logs(tmp_path / "libp2p.log")
    try:
        [handler] = [h for h in logging.getLogger("libp2p").handlers if h.get_name() == "swarm-node-libp2p"]
        assert getattr(handler, "maxBytes") == LOG_MAX_BYTES and getattr(handler, "backupCount") == LOG_BACKUPS
    finally:
        route_libp2p_logs(None)
