"""The Ledger: results, commits, manifests, data sources, the own seq counter and node state.

Peers and claims live in :mod:`node.ledger.peers`, opening and transactions in :mod:`node.ledger.base`.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import protocol
from node.errors import LedgerError, RecordRejected
from node.ledger.base import guarded
from node.ledger.peers import PeersAndClaims
from node.ledger.rows import RESULT_COLUMNS, ResultRow, result_columns
from node.ledger.status import NodeStatus

__all__ = ["Ledger", "MAX_COMMIT_TEXT"]

log = logging.getLogger(__name__)

MAX_COMMIT_TEXT = 64 * 1024
MAX_MANIFEST = 256 * 1024
MAX_STATE_JSON = 1 << 20
_COLS = ", ".join(f'"{c}"' for c in RESULT_COLUMNS)
_INSERT_RESULT = f"INSERT OR IGNORE INTO results ({_COLS}) VALUES ({', '.join('?' * len(RESULT_COLUMNS))})"


class Ledger(PeersAndClaims):
    """The node's SQLite ledger (WAL, synchronous=NORMAL). ``Ledger(path, readonly=True)`` for other processes."""

    @property
    def status(self) -> NodeStatus:
        """The running node's typed status records (``node.ledger.status``): current run, peers, noise, agent note."""
        return NodeStatus(self)

    # -- results ---------------------------------------------------------------------------------------------------

    @guarded
    def add_results(self, items: Iterable[Any]) -> list[bool]:
        """Store verified results in ONE transaction; True where newly stored (dedupe by message id and author+seq).

        Items must be ``protocol.Verified`` whose message is a ``Result``; anything else, or out of bounds, is
        skipped (False) and logged, never raised.
        """
        now = time.time()
        rows: list[tuple[Any, ...] | None] = []
        for item in items:
            try:
                if not isinstance(item.message, protocol.Result):
                    raise ValueError(f"a {type(item.message).__name__}, not a Result")
                rows.append(result_columns(item, now))
            except (ValueError, AttributeError, TypeError) as exc:
                log.warning("ledger: not storing message: %s", exc)
                rows.append(None)
        stored: list[bool] = []
        touched: dict[tuple[bytes, bytes], set[int]] = {}
        with self._write() as conn:
            for row in rows:
                new = row is not None and conn.execute(_INSERT_RESULT, row).rowcount == 1
                stored.append(new)
                if new:
                    assert row is not None
                    touched.setdefault((row[3], row[1]), set()).add(row[2])
            for (swarm_id, author), seqs in touched.items():
                self._advance_head(swarm_id, author, seqs)
        return stored

    def _advance_head(self, swarm_id: bytes, author: bytes, new_seqs: set[int]) -> None:
        """Move the author's contiguous head up over every seq now held: the batch's own seqs are checked in memory,
        only a seq the batch lacks costs an index probe (it may have arrived earlier, above a gap)."""
        top = self._one("SELECT top FROM seq_heads WHERE swarm_id = ? AND author = ?", (swarm_id, author)) or 0
        start = top
        while top + 1 in new_seqs or self._one(
            "SELECT 1 FROM results WHERE swarm_id = ? AND author = ? AND seq = ?", (swarm_id, author, top + 1)
        ):
            top += 1
        if top != start or start == 0:  # a row per (swarm, author) even at 0: results_since lists authors from here
            self._conn.execute(
                "INSERT OR REPLACE INTO seq_heads (swarm_id, author, top) VALUES (?, ?, ?)", (swarm_id, author, top)
            )

    @guarded
    def has_result(self, author: bytes, seq: int) -> bool:
        return self._one("SELECT 1 FROM results WHERE author = ? AND seq = ?", (author, seq)) is not None

    @guarded
    def seq_vector(self, swarm_id: bytes) -> dict[bytes, int]:
        """Per author, the highest seq held such that every seq from 1 up to it is held (seqs above a gap don't count).

        Authors without seq 1 are left out (same as 0). Kept up to date by :meth:`add_results`, so this reads one
        small table: O(authors), whatever the number of results.
        """
        cur = self._conn.execute("SELECT author, top FROM seq_heads WHERE swarm_id = ? AND top > 0", (swarm_id,))
        return {bytes(author): int(top) for author, top in cur}

    @guarded
    def results_since(
        self, swarm_id: bytes, have: Mapping[bytes, int], limit: int, *, max_bytes: int | None = None
    ) -> list[bytes]:
        """Raw envelopes with seq > ``have.get(author, 0)``, ordered (author, seq), at most ``limit`` of them.

        ``max_bytes`` (optional) also stops before the total raw size would pass it (at least one is returned).
        The caller knows there may be more when it got ``limit`` (or was cut by ``max_bytes``).
        """
        out: list[bytes] = []
        size = 0
        if limit <= 0:
            return out
        authors = [bytes(a) for (a,) in self._conn.execute(
            "SELECT author FROM seq_heads WHERE swarm_id = ? ORDER BY author", (swarm_id,))]
        for author in authors:
            cur = self._conn.execute(
                "SELECT raw FROM results WHERE author = ? AND seq > ? AND swarm_id = ? ORDER BY seq LIMIT ?",
                (author, int(have.get(author, 0)), swarm_id, limit - len(out)),
            )
            for (raw,) in cur:
                if max_bytes is not None and out and size + len(raw) > max_bytes:
                    return out
                out.append(bytes(raw))
                size += len(raw)
            if len(out) >= limit:
                break
        return out

    @guarded
    def results(
        self,
        swarm_id: bytes,
        *,
        status: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[ResultRow]:
        """Stored results of a swarm ordered by ``created_at`` (oldest first unless ``newest_first``).

        ``since`` keeps those created strictly after it (the author's clock); ``status`` filters keep/discard/crash.
        """
        where: list[str] = ["swarm_id = ?"]
        params: list[object] = [swarm_id]
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if since is not None:
            where.append("created_at > ?")
            params.append(since)
        sql = f"SELECT {_COLS} FROM results WHERE {' AND '.join(where)} ORDER BY created_at"
        sql += " DESC, rowid DESC" if newest_first else ", rowid"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, limit))
        return [ResultRow.from_row(r) for r in self._conn.execute(sql, params)]

    @guarded
    def get_result(self, message_id: bytes) -> ResultRow | None:
        row = self._conn.execute(f"SELECT {_COLS} FROM results WHERE message_id = ?", (message_id,)).fetchone()
        return None if row is None else ResultRow.from_row(row)

    @guarded
    def count(self, swarm_id: bytes | None = None) -> int:
        if swarm_id is None:
            return int(self._one("SELECT COUNT(*) FROM results"))
        return int(self._one("SELECT COUNT(*) FROM results WHERE swarm_id = ?", (swarm_id,)))

    # -- commits, manifests, data --------------------------------------------------------------------------------

    @guarded
    def put_commit(self, blob: str, text: bytes, author: bytes, parent: str) -> bool:
        """Store a train.py text under its git blob hash; True if new. ``RecordRejected`` if the hash does not match."""
        if not isinstance(text, (bytes, bytearray)) or len(text) > MAX_COMMIT_TEXT:
            raise RecordRejected(f"commit {blob[:12]}: text must be bytes of at most {MAX_COMMIT_TEXT}")
        if protocol.git_blob_hash(bytes(text)) != blob:
            raise RecordRejected(f"commit {blob[:12]}: text hashes to {protocol.git_blob_hash(bytes(text))[:12]}")
        if len(parent) > 64 or len(author) > 64:
            raise RecordRejected(f"commit {blob[:12]}: parent or author too long")
        with self._write() as conn:
            return conn.execute(
                "INSERT OR IGNORE INTO commits (blob, text, author, parent, created_at) VALUES (?, ?, ?, ?, ?)",
                (blob, bytes(text), bytes(author), parent, time.time()),
            ).rowcount == 1

    @guarded
    def get_commit(self, blob: str) -> bytes | None:
        text = self._one("SELECT text FROM commits WHERE blob = ?", (blob,))
        return None if text is None else bytes(text)

    @guarded
    def put_manifest(self, swarm_id: bytes, envelope: bytes) -> bool:
        """Store a signed manifest envelope; True if new. ``RecordRejected`` unless ``swarm_id_of(envelope)`` fits."""
        if not isinstance(envelope, (bytes, bytearray)) or len(envelope) > MAX_MANIFEST:
            raise RecordRejected(f"manifest must be bytes of at most {MAX_MANIFEST}")
        if protocol.swarm_id_of(bytes(envelope)) != swarm_id:
            raise RecordRejected(f"manifest does not hash to swarm id {swarm_id.hex()[:12]}")
        with self._write() as conn:
            return conn.execute(
                "INSERT OR IGNORE INTO manifests (swarm_id, raw) VALUES (?, ?)", (swarm_id, bytes(envelope))
            ).rowcount == 1

    @guarded
    def get_manifest(self, swarm_id: bytes) -> bytes | None:
        raw = self._one("SELECT raw FROM manifests WHERE swarm_id = ?", (swarm_id,))
        return None if raw is None else bytes(raw)

    @guarded
    def swarm_ids(self) -> list[bytes]:
        """The swarms whose manifest is stored."""
        return [bytes(s) for (s,) in self._conn.execute("SELECT swarm_id FROM manifests ORDER BY swarm_id")]

    @guarded
    def put_data_chunk_source(self, data_hash: bytes | str, path: Path) -> None:
        """Record where the data file (or folder) whose sha256 is ``data_hash`` lives on this machine."""
        key = data_hash.hex() if isinstance(data_hash, (bytes, bytearray)) else str(data_hash).lower()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO data_sources (data_hash, path, updated_at) VALUES (?, ?, ?) ON CONFLICT(data_hash) "
                "DO UPDATE SET path = excluded.path, updated_at = excluded.updated_at",
                (key, str(Path(path).absolute()), time.time()),
            )

    @guarded
    def get_data_chunk_source(self, data_hash: bytes | str) -> Path | None:
        key = data_hash.hex() if isinstance(data_hash, (bytes, bytearray)) else str(data_hash).lower()
        path = self._one("SELECT path FROM data_sources WHERE data_hash = ?", (key,))
        return None if path is None else Path(path)

    # -- own counter, node state ----------------------------------------------------------------------------------

    @guarded
    def next_seq(self, author: bytes) -> int:
        """This node's next seq for ``author`` (from 1), persisted before it is returned, never handed out twice."""
        with self._write() as conn:
            stored = self._one("SELECT next FROM own_seq WHERE author = ?", (author,)) or 1
            top = self._one("SELECT MAX(seq) FROM results WHERE author = ?", (author,)) or 0
            seq = max(int(stored), int(top) + 1)
            conn.execute("INSERT OR REPLACE INTO own_seq (author, next) VALUES (?, ?)", (author, seq + 1))
        return seq

    @guarded
    def get_state(self, key: str, default: Any = None) -> Any:
        """A JSON value of the node's state (e.g. the current best, the noise margin), or ``default``."""
        value = self._one("SELECT value FROM kv WHERE key = ?", (key,))
        return default if value is None else json.loads(value)

    @guarded
    def set_state(self, key: str, value: Any) -> None:
        """Store a JSON-able value under ``key`` (replacing it)."""
        try:
            text = json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"state {key!r} is not plain JSON: {exc}") from exc
        if len(text) > MAX_STATE_JSON:
            raise LedgerError(f"state {key!r} is {len(text)} bytes of JSON, more than {MAX_STATE_JSON}")
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, text))
