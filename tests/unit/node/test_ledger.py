"""The ledger's results side: dedupe, seq vectors with gaps, sync pages, queries, commits, manifests, schema."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import sqlite3
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import LedgerError, LedgerReadOnly, LedgerSchemaError, RecordRejected
from node.ledger import SCHEMA_VERSION, Ledger
from node.ledger import schema as ledger_schema
from protocol import (
    BudgetRule,
    Claim,
    Identity,
    Manifest,
    Result,
    Verified,
    decode_and_verify,
    git_blob_hash,
    sign_message,
    swarm_id_of,
)

SWARM = hashlib.sha256(b"swarm one").digest()
OTHER_SWARM = hashlib.sha256(b"swarm two").digest()
T0 = 1_750_000_000.0
NOW = T0 + 10_000.0
ALICE = Identity.from_private_bytes(b"a" * 32)
BOB = Identity.from_private_bytes(b"b" * 32)


def make_result(me: Identity, seq: int, *, swarm: bytes = SWARM, **changes: object) -> Result:
    fields: dict[str, object] = dict(
        swarm_id=swarm, author=me.public_key, seq=seq, created_at=T0 + seq, commit=f"{seq:040x}", parent="",
        blob=git_blob_hash(b"train %d" % seq), metric=2.5 + seq / 1000, status="keep", hw_class="cpu:2t",
        hw_fingerprint="cpu:2t test", budget=BudgetRule("seconds", 60), steps=100, tokens=12_800, wall_seconds=61.5,
        peak_memory_mb=300.0, description=f"experiment {seq}",
    )
    fields.update(changes)
    return Result(**fields)  # type: ignore[arg-type]


def signed(me: Identity, seq: int, **changes: object) -> Verified:
    """A real signed result, through the real validation pipeline."""
    return decode_and_verify(sign_message(me, make_result(me, seq, **changes)), now=NOW)


def unsigned(author: bytes, seq: int, swarm: bytes = SWARM) -> Verified:
    """A Verified-shaped record without a real signature: only for bulk storage tests (the ledger does not verify)."""
    msg = dataclasses.replace(make_result(ALICE, seq, swarm=swarm), author=author)
    raw = b"raw:" + author + seq.to_bytes(8, "big") + swarm
    return Verified(message=msg, author=author, body=raw, raw=raw, message_id=hashlib.sha256(raw).digest())


@pytest.fixture()
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite") as led:
        yield led


def test_add_results_stores_exact_bytes_and_decoded_columns(ledger: Ledger) -> None:
    v = signed(ALICE, 1, description="wider MLP")
    assert ledger.add_results([v]) == [True]
    row = ledger.get_result(v.message_id)
    assert row is not None
    assert row.raw == v.raw and row.message_id == v.message_id and row.author == ALICE.public_key
    assert (row.seq, row.swarm_id, row.kind, row.status, row.budget) == (1, SWARM, "result", "keep", "60s")
    assert row.description == "wider MLP" and row.metric == pytest.approx(2.501)
    assert decode_and_verify(row.raw, now=NOW).message == v.message
    assert ledger.has_result(ALICE.public_key, 1) and not ledger.has_result(ALICE.public_key, 2)
    assert ledger.count() == 1 and ledger.count(SWARM) == 1 and ledger.count(OTHER_SWARM) == 0


def test_duplicates_are_refused_not_raised(ledger: Ledger) -> None:
    first, second = signed(ALICE, 1), signed(ALICE, 2)
    assert ledger.add_results([first, second, first]) == [True, True, False]
    assert ledger.add_results([second]) == [False]
    equivocation = signed(ALICE, 1, metric=1.0)  # same author+seq, other bytes
    assert equivocation.message_id != first.message_id
    assert ledger.add_results([equivocation]) == [False]
    assert ledger.count() == 2 and ledger.get_result(equivocation.message_id) is None


def test_non_results_and_out_of_bounds_items_are_skipped(ledger: Ledger) -> None:
    claim = decode_and_verify(
        sign_message(ALICE, Claim(swarm_id=SWARM, author=ALICE.public_key, seq=0, created_at=T0, blob="c" * 40,
                                  expires_at=T0 + 60)), now=T0)
    huge = dataclasses.replace(unsigned(BOB.public_key, 1), raw=b"x" * 70_000)
    good = signed(ALICE, 1)
    assert ledger.add_results([claim, huge, object(), good]) == [False, False, False, True]
    assert ledger.count() == 1


def test_one_batch_is_one_transaction(ledger: Ledger) -> None:
    statements: list[str] = []
    ledger._conn.set_trace_callback(statements.append)
    ledger.add_results([unsigned(ALICE.public_key, s) for s in range(1, 101)])
    ledger._conn.set_trace_callback(None)
    assert sum(s.strip().upper().startswith("COMMIT") for s in statements) == 1
    assert sum(s.strip().upper().startswith("BEGIN") for s in statements) == 1
    assert ledger.count() == 100


def test_attestation_kind_and_lookup(ledger: Ledger) -> None:
    original = signed(ALICE, 1)
    check = signed(BOB, 1, reproduces=original.message_id, metric=2.49)
    ledger.add_results([original, check])
    assert [r.message_id for r in ledger.results(SWARM) if r.reproduces == original.message_id] == [check.message_id]
    row = ledger.get_result(check.message_id)
    assert row is not None and row.kind == "attestation" and row.reproduces == original.message_id


def test_seq_vector_counts_only_the_contiguous_prefix(ledger: Ledger) -> None:
    a, b = ALICE.public_key, BOB.public_key
    ledger.add_results([unsigned(a, s) for s in (1, 2, 3, 5, 6)] + [unsigned(b, s) for s in (2, 3)])
    ledger.add_results([unsigned(a, 9, swarm=OTHER_SWARM)])
    assert ledger.seq_vector(SWARM) == {a: 3}
    above_gaps = [unsigned(x, s).raw for x, s in sorted([(a, 5), (a, 6), (b, 2), (b, 3)])]
    assert ledger.results_since(SWARM, {a: 3}, 100) == above_gaps  # b lacks seq 1 but is still listed
    ledger.add_results([unsigned(a, 4), unsigned(b, 1)])
    assert ledger.seq_vector(SWARM) == {a: 6, b: 3}
    assert ledger.seq_vector(OTHER_SWARM) == {}


def test_seq_vector_matches_a_reference_for_any_batches(ledger: Ledger) -> None:
    authors = itertools.count()

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.lists(st.integers(1, 40), max_size=12), max_size=6))
    def check(batches: list[list[int]]) -> None:
        author = hashlib.sha256(b"author %d" % next(authors)).digest()  # a fresh author per example: no state carried
        held: set[int] = set()
        for batch in batches:
            ledger.add_results([unsigned(author, s) for s in batch])
            held.update(batch)
            top = 0
            while top + 1 in held:
                top += 1
            assert ledger.seq_vector(SWARM).get(author, 0) == top

    check()


def test_ten_thousand_results_with_a_gap(ledger: Ledger) -> None:
    authors = [bytes([i]) * 32 for i in range(10)]
    items = [unsigned(a, s) for a in authors for s in range(1, 1001) if not (a == authors[3] and s == 500)]
    for i in range(0, len(items), 500):
        ledger.add_results(items[i:i + 500])
    vector = ledger.seq_vector(SWARM)
    assert ledger.count(SWARM) == 9_999
    assert vector == {a: (499 if a == authors[3] else 1000) for a in authors}
    page = ledger.results_since(SWARM, vector, 100)
    assert len(page) == 100  # only author 3's seqs above its gap (501..1000) are past the vector
    assert page[0] == unsigned(authors[3], 501).raw and all(p.startswith(b"raw:" + authors[3]) for p in page)


def test_results_since_pages_through_everything_missing_in_order(ledger: Ledger) -> None:
    a, b = sorted([ALICE.public_key, BOB.public_key])
    ledger.add_results([unsigned(a, s) for s in range(1, 8)] + [unsigned(b, s) for s in range(1, 5)])
    have = {a: 3}
    got: list[bytes] = []
    while True:
        page = ledger.results_since(SWARM, have, 3)
        got += page
        if len(page) < 3:
            break
        for raw in page:  # what an asker does: advance its vector past what it received
            author, seq = raw[4:36], int.from_bytes(raw[36:44], "big")
            have[author] = max(have.get(author, 0), seq)
    expected = [unsigned(a, s).raw for s in range(4, 8)] + [unsigned(b, s).raw for s in range(1, 5)]
    assert got == expected
    assert ledger.results_since(SWARM, {}, 0) == []
    assert ledger.results_since(OTHER_SWARM, {}, 10) == []
    by_size = ledger.results_since(SWARM, {}, 100, max_bytes=3 * len(expected[0]))
    assert len(by_size) == 3


def test_results_queries_filter_and_order(ledger: Ledger) -> None:
    items = [signed(ALICE, 1, metric=2.6), signed(ALICE, 2, metric=2.4, status="discard"),
             signed(ALICE, 3, metric=0.0, status="crash"), signed(BOB, 1, metric=2.3, hw_class="cuda:H100-80GB")]
    ledger.add_results(items)
    assert [r.seq for r in ledger.results(SWARM)] == [1, 1, 2, 3]  # by created_at (T0 + seq), then arrival
    assert [r.seq for r in ledger.results(SWARM, status="keep")] == [1, 1]
    assert [r.seq for r in ledger.results(SWARM, since=T0 + 1)] == [2, 3]
    assert [r.seq for r in ledger.results(SWARM, limit=1, newest_first=True)] == [3]
    assert {r.hw_class for r in ledger.results(SWARM)} == {"cpu:2t", "cuda:H100-80GB"}


def test_commits_are_stored_only_under_their_git_blob_hash(ledger: Ledger) -> None:
    text = b"print('hello')\n"
    blob = git_blob_hash(text)
    assert ledger.put_commit(blob, text, ALICE.public_key, "") is True
    assert ledger.put_commit(blob, text, ALICE.public_key, "") is False
    assert ledger.get_commit(blob) == text
    with pytest.raises(RecordRejected):
        ledger.put_commit(blob, b"print('tampered')\n", BOB.public_key, "")
    big = b"#" * (64 * 1024 + 1)
    with pytest.raises(RecordRejected):
        ledger.put_commit(git_blob_hash(big), big, BOB.public_key, "")
    assert ledger.get_commit("0" * 40) is None


def test_manifests_are_stored_only_under_their_swarm_id(ledger: Ledger) -> None:
    manifest = Manifest(author=ALICE.public_key, seq=0, created_at=T0, name="tiny", program="# program",
                        baseline_blob="d" * 40, data_spec="{}", data_hash=bytes(32), eval_spec="64 KiB",
                        budget=BudgetRule("seconds", 60), metric_name="val_bpb", metric_direction="min")
    raw = sign_message(ALICE, manifest)
    sid = swarm_id_of(raw)
    assert ledger.put_manifest(sid, raw) is True and ledger.put_manifest(sid, raw) is False
    assert ledger.get_manifest(sid) == raw and ledger.swarm_ids() == [sid]
    with pytest.raises(RecordRejected):
        ledger.put_manifest(SWARM, raw)
    assert ledger.get_manifest(SWARM) is None


def test_readonly_reader_sees_commits_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with pytest.raises(LedgerError):
        Ledger(path, readonly=True)
    assert not path.exists()
    with Ledger(path) as writer:
        writer.add_results([signed(ALICE, 1)])
        with Ledger(path, readonly=True) as reader:
            assert reader.count() == 1
            writer.add_results([signed(ALICE, 2)])
            assert reader.count() == 2 and reader.seq_vector(SWARM) == {ALICE.public_key: 2}
            with pytest.raises(LedgerReadOnly):
                reader.add_results([signed(ALICE, 3)])
            with pytest.raises(LedgerReadOnly):
                reader.set_state("k", 1)
    assert Ledger(path).count() == 2


def test_schema_version_and_migration_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    ran: list[int] = []
    migrations = dict(ledger_schema.MIGRATIONS)
    migrations[SCHEMA_VERSION + 1] = lambda db: ran.append(1) or db.execute("CREATE TABLE extra (x)")
    monkeypatch.setattr(ledger_schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(ledger_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(LedgerSchemaError, match="read-write"):
        Ledger(path, readonly=True)
    Ledger(path).close()
    Ledger(path).close()
    assert ran == [1]
    monkeypatch.undo()
    with pytest.raises(LedgerSchemaError, match="newer"):
        Ledger(path)


def test_garbage_file_and_closed_ledger_raise_ledger_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerSchemaError):
        Ledger(bad)
    led = Ledger(tmp_path / "ok.sqlite")
    led.close()
    led.close()
    with pytest.raises(LedgerError, match="closed"):
        led.count()


_WILD = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                  st.text(max_size=5000), st.binary(max_size=70))


def test_hostile_records_are_refused_never_raised(ledger: Ledger) -> None:
    """Records that bypassed validation (wrong types, huge text, NaN, 2**70) are skipped; good ones still land."""
    authors = itertools.count()
    fields = ["seq", "swarm_id", "commit", "blob", "metric", "status", "hw_class", "steps", "tokens", "wall_seconds",
              "description", "created_at", "reproduces"]

    @settings(max_examples=60, deadline=None)
    @given(st.dictionaries(st.sampled_from(fields), _WILD, max_size=4))
    def check(changes: dict[str, object]) -> None:
        n = next(authors)
        base = unsigned(hashlib.sha256(b"bad %d" % n).digest(), 1)
        bad = dataclasses.replace(base, message=dataclasses.replace(base.message, **changes))  # type: ignore[arg-type]
        good = unsigned(hashlib.sha256(b"good %d" % n).digest(), 1)
        before = ledger.count()
        flags = ledger.add_results([bad, good])
        assert flags[1] is True and ledger.has_result(good.author, 1)
        assert ledger.count() == before + 1 + flags[0]
        if flags[0]:
            row = ledger.get_result(bad.message_id)
            assert row is not None and row.seq >= 0 and len(row.description) <= 4096 and row.metric == row.metric

    check()
