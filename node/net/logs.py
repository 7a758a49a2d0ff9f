"""Route py-libp2p's loggers away from the user's terminal.

py-libp2p logs normal events (a peer hanging up, a dial that races another) at WARNING and ERROR.
:func:`route_libp2p_logs` stops those records from reaching the root logger; they go to a file when
one is given, and through to the root logger only when the caller asks for DEBUG.

The file is rotated: at :data:`LOG_MAX_BYTES` it moves to ``libp2p.log.1`` (and ``.1`` to ``.2`` ...), keeping
:data:`LOG_BACKUPS` old files, so a node that runs for months holds at most ~20 MiB of libp2p chatter.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

__all__ = ["LIBP2P_LOGGERS", "LOG_MAX_BYTES", "LOG_BACKUPS", "route_libp2p_logs"]

LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3

LIBP2P_LOGGERS = ("libp2p", "multiaddr", "async_service", "anyio", "trio-websocket")

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def route_libp2p_logs(path: Path | None = None, *, verbose: bool = False, max_bytes: int = LOG_MAX_BYTES,
                      backups: int = LOG_BACKUPS) -> list[logging.Logger]:
    """Detach libp2p's loggers from the terminal; write them to ``path`` (appended, rotated at ``max_bytes``
    with ``backups`` old files) if given.

    With ``verbose`` they also propagate to the root logger (for ``-vv`` debugging).
    Returns the loggers it configured. Calling it again replaces the file handler.
    """
    configured: list[logging.Logger] = []
    handler: logging.Handler | None = None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                       encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.set_name("swarm-node-libp2p")
    for name in LIBP2P_LOGGERS:
        log = logging.getLogger(name)
        for old in list(log.handlers):
            if old.get_name() == "swarm-node-libp2p":
                log.removeHandler(old)
                old.close()
        log.propagate = verbose
        log.setLevel(logging.DEBUG if verbose else logging.INFO if handler is not None else logging.CRITICAL)
        if handler is not None:
            log.addHandler(handler)
        configured.append(log)
    return configured
