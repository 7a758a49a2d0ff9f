"""node.ledger: the node's SQLite ledger (sqlite-utils, WAL, synchronous=NORMAL, one transaction per batch).

Files:
    schema.py   the tables and indexes, the schema version table, the migration hook, opening with the pragmas
    base.py     LedgerBase: the lock, one-transaction writes, read-only opens, sqlite3 errors -> LedgerError
    rows.py     ResultRow and PeerRow (frozen records) and the bounded Verified -> row conversion
    peers.py    peers (trust, invalid counts, blacklist) and claims
    store.py    Ledger: results (dedupe, seq vectors, sync pages, queries), commits, manifests, data sources,
                the own seq counter and the node's key/value state
    status.py   the typed status records in that state (``ledger.status``): the current run, connected peers,
                measured noise, the agent's note, the active swarm; written by the running node, read by the feed
    export.py   results.tsv in autoresearch's columns (attestations left out or marked, one hardware class)
"""

from __future__ import annotations

from node.ledger.peers import MAX_CLAIM_SECONDS, MAX_CLAIMS_PER_AUTHOR
from node.ledger.rows import PeerRow, ResultRow
from node.ledger.schema import SCHEMA_VERSION
from node.ledger.status import AgentNote, CurrentRun, NoiseRecord
from node.ledger.store import Ledger

__all__ = ["Ledger", "ResultRow", "PeerRow", "SCHEMA_VERSION", "MAX_CLAIM_SECONDS", "MAX_CLAIMS_PER_AUTHOR",
           "CurrentRun", "NoiseRecord", "AgentNote"]
