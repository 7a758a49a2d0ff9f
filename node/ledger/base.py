"""LedgerBase: opening, closing, the lock, one-transaction writes and sqlite3 error translation.

The connection runs in autocommit mode (``isolation_level = None``) so nothing opens a transaction behind our back;
:meth:`LedgerBase._write` is ``BEGIN IMMEDIATE`` ... ``COMMIT``. Every public method holds one lock, so the ledger
may be called from a worker thread too, one call at a time.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Self, Sequence, TypeVar

import sqlite_utils

from node.errors import LedgerError, LedgerReadOnly
from node.ledger.schema import connect, migrate

__all__ = ["LedgerBase", "guarded"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Hold the ledger's lock and translate sqlite3 errors into LedgerError."""

    @functools.wraps(method)
    def wrapper(self: LedgerBase, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._db is None:
                raise LedgerError(f"ledger {self.path} is closed")
            try:
                return method(self, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                if "readonly" in str(exc):
                    raise LedgerReadOnly(f"ledger {self.path} is read-only: {exc}") from exc
                raise LedgerError(f"ledger {self.path}: {exc}") from exc
            except sqlite3.DatabaseError as exc:
                raise LedgerError(f"ledger {self.path}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


class LedgerBase:
    """The open file and its transaction discipline; :class:`~node.ledger.store.Ledger` adds the tables' methods."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        self._db: sqlite_utils.Database | None = connect(self.path, readonly=readonly)
        try:
            self._db.conn.isolation_level = None
            migrate(self._db, self.path, readonly=readonly)
        except BaseException:
            self._db.conn.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent); WAL frames are already durable, a checkpoint is attempted on the way out."""
        with self._lock:
            if self._db is None:
                return
            db, self._db = self._db, None
            try:
                if not self.readonly:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.DatabaseError as exc:
                log.debug("ledger %s: checkpoint on close failed: %s", self.path, exc)
            finally:
                db.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._db is not None
        return self._db.conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if self.readonly:
            raise LedgerReadOnly(f"ledger {self.path} was opened read-only")
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # an error may already have ended it; never mask the original
                conn.execute("ROLLBACK")
            raise

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]
