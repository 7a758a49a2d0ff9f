"""The ledger's SQLite schema, its version table and the migration hook; opening a connection with the right pragmas.

Version 1 is the first schema; version 2 adds the result columns of protocol version 2 (action, run_index,
cpu_seconds, clock); version 3 keeps a peer's standing in one place, its ``peers`` row: trust (from reproductions),
invalid messages, and a ban with its reason and expiry (the bans move there from ``kv``; the never-written
``confirmed``/``refuted`` and the duplicate ``blacklisted`` columns go). A later version adds a function to
:data:`MIGRATIONS` under its number; opening a ledger runs the missing ones in order, each in its own transaction,
and records the version reached.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Callable

import sqlite_utils

from node.errors import LedgerError, LedgerSchemaError

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "connect", "migrate", "schema_version"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000

_V1 = """
CREATE TABLE IF NOT EXISTS results (
    message_id   BLOB PRIMARY KEY,
    author       BLOB NOT NULL,
    seq          INTEGER NOT NULL,
    swarm_id     BLOB NOT NULL,
    kind         TEXT NOT NULL,            -- 'result' | 'attestation'
    reproduces   BLOB NOT NULL,            -- the attested result id, or x'' for a plain result
    "commit"     TEXT NOT NULL,
    parent       TEXT NOT NULL,
    blob         TEXT NOT NULL,
    metric       REAL NOT NULL,
    status       TEXT NOT NULL,
    hw_class     TEXT NOT NULL,
    budget       TEXT NOT NULL,
    steps        INTEGER NOT NULL,
    tokens       INTEGER NOT NULL,
    wall_seconds REAL NOT NULL,
    description  TEXT NOT NULL,
    created_at   REAL NOT NULL,
    received_at  REAL NOT NULL,
    raw          BLOB NOT NULL,
    UNIQUE (author, seq)
);
CREATE INDEX IF NOT EXISTS results_swarm_created ON results (swarm_id, created_at);
CREATE INDEX IF NOT EXISTS results_swarm_class_metric ON results (swarm_id, hw_class, metric);
CREATE INDEX IF NOT EXISTS results_blob_class ON results (blob, hw_class);
CREATE INDEX IF NOT EXISTS results_reproduces ON results (reproduces);

CREATE TABLE IF NOT EXISTS seq_heads (   -- per swarm and author seen: the highest seq held with all of 1..top held
    swarm_id BLOB NOT NULL,
    author   BLOB NOT NULL,
    top      INTEGER NOT NULL,
    PRIMARY KEY (swarm_id, author)
);

CREATE TABLE IF NOT EXISTS peers (
    peer_id       TEXT PRIMARY KEY,
    addrs         TEXT NOT NULL,           -- JSON list of multiaddrs
    first_seen    REAL NOT NULL,
    last_seen     REAL NOT NULL,
    trust         REAL NOT NULL DEFAULT 0,
    invalid_count INTEGER NOT NULL DEFAULT 0,
    confirmed     INTEGER NOT NULL DEFAULT 0,
    refuted       INTEGER NOT NULL DEFAULT 0,
    blacklisted   INTEGER NOT NULL DEFAULT 0,
    last_invalid  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS claims (
    author     BLOB NOT NULL,
    blob       TEXT NOT NULL,
    swarm_id   BLOB NOT NULL,
    expires_at REAL NOT NULL,
    raw        BLOB NOT NULL,
    PRIMARY KEY (swarm_id, author, blob)
);
CREATE INDEX IF NOT EXISTS claims_swarm_expires ON claims (swarm_id, expires_at);

CREATE TABLE IF NOT EXISTS commits (
    blob       TEXT PRIMARY KEY,
    text       BLOB NOT NULL,
    author     BLOB NOT NULL,
    parent     TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS manifests (
    swarm_id BLOB PRIMARY KEY,
    raw      BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS data_sources (
    data_hash  TEXT PRIMARY KEY,           -- hex sha256 of the corpus bytes
    path       TEXT NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS own_seq (
    author BLOB PRIMARY KEY,
    next   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS replay (      -- unused (nothing persists a replay guard), kept so that v1 stays v1
    author TEXT PRIMARY KEY,               -- (the replay guard it was for is gone)
    state  TEXT NOT NULL                   -- its value, JSON
);

CREATE TABLE IF NOT EXISTS kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                    -- JSON
);
"""


def _v1(db: sqlite_utils.Database) -> None:
    for statement in _V1.split(";"):
        if statement.strip():
            db.execute(statement)


def _v2(db: sqlite_utils.Database) -> None:
    """Protocol version 2's result fields as columns; rows stored before get them derived once (as protocol does)."""
    from protocol import legacy_action

    for column, kind, default in (("action", "TEXT", "'unknown'"), ("run_index", "INTEGER", "0"),
                                  ("cpu_seconds", "REAL", "0.0"), ("clock", "TEXT", "'wall'")):
        db.execute(f"ALTER TABLE results ADD COLUMN {column} {kind} NOT NULL DEFAULT {default}")
    rows = db.execute("SELECT message_id, description, reproduces FROM results").fetchall()
    db.conn.executemany("UPDATE results SET action = ? WHERE message_id = ?",
                        [(legacy_action(str(d), bytes(r)), m) for m, d, r in rows])
    db.execute("CREATE INDEX IF NOT EXISTS results_blob_run ON results (blob, run_index)")


def _v3(db: sqlite_utils.Database) -> None:
    """One peer-standing row: bans from ``kv`` (``ban/<peer>`` -> {"reason", "until"}) into ``peers`` columns."""
    import json

    db.execute("ALTER TABLE peers ADD COLUMN ban_reason TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE peers ADD COLUMN banned_until REAL NOT NULL DEFAULT 0")
    now = time.time()
    for key, value in db.execute("SELECT key, value FROM kv WHERE key LIKE 'ban/%'").fetchall():
        try:
            record = json.loads(value)
            reason, until = str(record["reason"])[:200], float(record["until"])
        except (ValueError, KeyError, TypeError):
            continue
        peer = str(key)[len("ban/"):]
        if not 0 < len(peer) <= 128:
            continue
        db.execute("INSERT INTO peers (peer_id, addrs, first_seen, last_seen) VALUES (?, '[]', ?, ?) "
                   "ON CONFLICT(peer_id) DO NOTHING", [peer, now, now])
        db.execute("UPDATE peers SET ban_reason = ?, banned_until = ? WHERE peer_id = ?", [reason, until, peer])
    db.execute("DELETE FROM kv WHERE key LIKE 'ban/%'")
    for column in ("confirmed", "refuted", "blacklisted"):
        db.execute(f"ALTER TABLE peers DROP COLUMN {column}")


MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {1: _v1, 2: _v2, 3: _v3}
"""Schema version -> the function that brings a ledger from the version before it to this one."""

SCHEMA_VERSION = max(MIGRATIONS)


def connect(path: Path, *, readonly: bool) -> sqlite_utils.Database:
    """Open ``path`` with WAL, synchronous=NORMAL and a busy timeout; read-only opens never create or change it."""
    try:
        if readonly:
            if not path.is_file():
                raise LedgerError(f"no ledger at {path}: start a node once (swarm-node join) to create it")
            conn = sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
        if readonly:
            db.execute("PRAGMA query_only=1")
        else:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("ledger %s: journal mode is %s, not WAL", path, mode)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        return db
    except sqlite3.DatabaseError as exc:
        raise LedgerSchemaError(f"{path} cannot be opened as a ledger: {exc}") from exc


def schema_version(db: sqlite_utils.Database) -> int:
    """The version recorded in the file; 0 for a new, empty file."""
    row = db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if row is None:
        return 0
    got = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    return int(got or 0)


def migrate(db: sqlite_utils.Database, path: Path, *, readonly: bool) -> int:
    """Bring the file to :data:`SCHEMA_VERSION`; return the version it had. Refuses files from a newer version."""
    try:
        found = schema_version(db)
        if found > SCHEMA_VERSION:
            raise LedgerSchemaError(
                f"{path} has ledger schema version {found}, newer than this swarm-node ({SCHEMA_VERSION}): upgrade"
            )
        if found == SCHEMA_VERSION:
            return found
        if readonly:
            raise LedgerSchemaError(
                f"{path} has ledger schema version {found}, this swarm-node needs {SCHEMA_VERSION}: "
                "run the node once (read-write) to upgrade it"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            with db.atomic():
                db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
                MIGRATIONS[version](db)
                db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", [version, time.time()])
            log.info("ledger %s: schema migrated to version %d", path, version)
        return found
    except sqlite3.DatabaseError as exc:
        raise LedgerSchemaError(f"{path} is not a usable ledger: {exc}") from exc
