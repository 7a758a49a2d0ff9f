"""Old results still load: a ledger written by the version-1 code (schema 1, version-1 envelopes) is migrated in place,
its rows get the version-2 columns (clock "wall", run 0, the action read once from the old description prefixes),
and a version-1 envelope arriving by sync is stored the same way."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import sqlite_utils

from node.ledger import Ledger
from node.ledger import schema as ledger_schema
from node.ledger.rows import RESULT_COLUMNS, result_columns
from protocol import decode_and_verify

GOLDEN_V1 = json.loads((Path(__file__).parents[1] / "protocol" / "golden_v1.json").read_text())
NOW = 1_790_000_000.0
SWARM = bytes(range(32))


def _old_ledger(path: Path) -> None:
    """A ledger file as the version-1 code left it: schema 1 and two version-1 results."""
    conn = sqlite3.connect(path)
    for statement in ledger_schema._V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    conn.execute("INSERT INTO schema_version VALUES (1, ?)", (time.time(),))
    old_columns = RESULT_COLUMNS[:20]
    for name in ("result", "attestation"):
        verified = decode_and_verify(bytes.fromhex(GOLDEN_V1["signed"][name]), now=NOW)
        row = result_columns(verified, NOW)[:20]
        cols = ", ".join(f'"{c}"' for c in old_columns)
        conn.execute(f"INSERT INTO results ({cols}) VALUES ({', '.join('?' * 20)})", row)
    conn.commit()
    conn.close()


def test_a_version_1_ledger_is_migrated_and_its_results_labelled(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    _old_ledger(path)
    with Ledger(path) as ledger:
        rows = sorted(ledger.results(SWARM), key=lambda r: r.kind)
    assert [(r.kind, r.action, r.clock, r.run_index, r.cpu_seconds) for r in rows] == [
        ("attestation", "adopt", "wall", 0, 0.0), ("result", "explore", "wall", 0, 0.0)]
    assert rows[1].metric == 2.4125 and rows[1].hw_class == "cpu:2t"


def test_a_version_1_envelope_from_sync_is_stored_with_its_defaults(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        verified = decode_and_verify(bytes.fromhex(GOLDEN_V1["signed"]["result"]), now=NOW)
        assert ledger.add_results([verified]) == [True]
        (row,) = ledger.results(SWARM)
        assert (row.action, row.clock, row.run_index) == ("explore", "wall", 0)
        assert row.raw == verified.raw  # the exact signed bytes, served again by sync as they came


def test_a_version_2_ledger_keeps_its_bans_and_trust_in_one_peer_row(tmp_path: Path) -> None:
    """Schema 3: a peer's standing is one row; the bans a schema-2 ledger kept in ``kv`` move there."""
    path = tmp_path / "ledger.sqlite"
    _old_ledger(path)
    conn = sqlite3.connect(path)
    ledger_schema._v2(sqlite_utils.Database(conn))
    conn.execute("INSERT INTO schema_version VALUES (2, ?)", (time.time(),))
    conn.execute("INSERT INTO peers (peer_id, addrs, first_seen, last_seen, trust, invalid_count, blacklisted) "
                 "VALUES ('12D3KooWRogue', '[]', 1, 2, -2.5, 3, 1)")
    until = time.time() + 600
    conn.execute("INSERT INTO kv VALUES ('ban/12D3KooWRogue', ?)", (json.dumps({"reason": "junk", "until": until}),))
    conn.execute("INSERT INTO kv VALUES ('ban/12D3KooWGone', ?)", (json.dumps({"reason": "old", "until": 5.0}),))
    conn.commit()
    conn.close()
    with Ledger(path) as ledger:
        assert ledger.bans() == [("12D3KooWRogue", "junk", until)]
        row = ledger.get_peer("12D3KooWRogue")
        assert row is not None and (row.trust, row.invalid_count, row.ban_reason) == (-2.5, 3, "junk")
        assert ledger.get_state("ban/12D3KooWRogue") is None  # stored once: the kv copy is gone
        ledger.lift_ban("12D3KooWRogue")
        assert ledger.bans() == [] and not ledger.is_blacklisted("12D3KooWRogue")
    columns = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(peers)")}
    assert not columns & {"confirmed", "refuted", "blacklisted"} and {"ban_reason", "banned_until"} <= columns
