"""The ledger's node-state side: peers, claims, the own seq counter, the replay guard, key/value state, data sources."""

from __future__ import annotations

import time

import math
from pathlib import Path
from typing import Iterator

import pytest

from node.errors import LedgerError
from node.ledger import Ledger
from protocol import Claim, Identity, decode_and_verify, sign_message
from tests.unit.node.test_ledger import ALICE, BOB, SWARM, T0, signed

PEER = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"


@pytest.fixture()
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite") as led:
        yield led


def claim(me: Identity, blob: str, expires_at: float, swarm: bytes = SWARM) -> object:
    msg = Claim(swarm_id=swarm, author=me.public_key, seq=0, created_at=T0, blob=blob, expires_at=expires_at)
    return decode_and_verify(sign_message(me, msg), now=T0)


def test_touch_peer_keeps_first_seen_and_known_addresses(ledger: Ledger) -> None:
    ledger.touch_peer(PEER, ["/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.1/tcp/4001"])
    first = ledger.get_peer(PEER)
    assert first is not None and first.addrs == ("/ip4/10.0.0.1/tcp/4001",)
    ledger.touch_peer(PEER, [])
    again = ledger.get_peer(PEER)
    assert again is not None and again.addrs == first.addrs
    assert again.first_seen == first.first_seen and again.last_seen >= first.last_seen
    ledger.touch_peer(PEER, ["/ip4/10.0.0.2/tcp/4001"] + ["x" * 600] + [f"/ip4/10.0.1.{i}/tcp/1" for i in range(40)])
    bounded = ledger.get_peer(PEER)
    assert bounded is not None and bounded.addrs[0] == "/ip4/10.0.0.2/tcp/4001" and len(bounded.addrs) == 16
    with pytest.raises(LedgerError):
        ledger.touch_peer("", [])


def test_invalid_messages_counted_and_blacklist_kept(ledger: Ledger) -> None:
    assert ledger.note_invalid(PEER, "bad signature") == 1
    assert ledger.note_invalid(PEER, "x" * 10_000) == 2
    row = ledger.get_peer(PEER)
    assert row is not None and row.invalid_count == 2 and len(row.last_invalid) == 200
    assert not ledger.is_blacklisted(PEER)
    ledger.ban_peer(PEER, "3 invalid messages", until=time.time() + 60)
    ledger.set_trust(PEER, -3.5)
    row = ledger.get_peer(PEER)
    assert row is not None and (row.ban_reason, row.trust, row.invalid_count) == ("3 invalid messages", -3.5, 2)
    assert ledger.is_blacklisted(PEER) and not ledger.is_blacklisted("unknown")
    ledger.touch_peer("other", [])
    assert {p.peer_id for p in ledger.peers()} == {PEER, "other"}


def test_claims_latest_expiry_wins_and_expired_ones_go(ledger: Ledger) -> None:
    assert ledger.put_claim(claim(ALICE, "a" * 40, T0 + 100)) is True
    assert ledger.put_claim(claim(ALICE, "a" * 40, T0 + 50)) is False  # an earlier expiry never shortens a claim
    assert ledger.put_claim(claim(ALICE, "a" * 40, T0 + 300)) is True
    assert ledger.put_claim(claim(BOB, "b" * 40, T0 + 200)) is True
    assert ledger.put_claim(signed(ALICE, 1)) is False  # not a claim
    active = ledger.active_claims(SWARM, now=T0 + 10)
    assert [(c.blob, c.expires_at) for c in active] == [("b" * 40, T0 + 200), ("a" * 40, T0 + 300)]
    assert all(isinstance(c, Claim) for c in active)
    assert [c.blob for c in ledger.active_claims(SWARM, now=T0 + 250)] == ["a" * 40]
    assert ledger.prune_claims(now=T0 + 250) == 1
    assert ledger.active_claims(SWARM, now=T0 + 400) == []


def test_next_seq_is_never_reused_even_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        assert [led.next_seq(ALICE.public_key) for _ in range(3)] == [1, 2, 3]
        assert led.next_seq(BOB.public_key) == 1
        led.add_results([signed(ALICE, 10)])  # e.g. restored from peers after the counter was lost
        assert led.next_seq(ALICE.public_key) == 11
    with Ledger(path) as led:
        assert led.next_seq(ALICE.public_key) == 12


def test_key_value_state_is_json(ledger: Ledger) -> None:
    assert ledger.get_state("best") is None and ledger.get_state("best", {}) == {}
    ledger.set_state("best", {"blob": "a" * 40, "metric": 2.41})
    ledger.set_state("margin", 0.007)
    assert ledger.get_state("best") == {"blob": "a" * 40, "metric": 2.41}
    assert ledger.get_state("margin") == 0.007
    with pytest.raises(LedgerError):
        ledger.set_state("margin", math.nan)
    with pytest.raises(LedgerError):
        ledger.set_state("margin", object())
    assert ledger.get_state("margin") == 0.007


def test_data_sources_by_hex_or_bytes(ledger: Ledger, tmp_path: Path) -> None:
    digest = bytes(range(32))
    ledger.put_data_chunk_source(digest, tmp_path / "corpus.txt")
    assert ledger.get_data_chunk_source(digest.hex().upper()) == tmp_path / "corpus.txt"
    ledger.put_data_chunk_source(digest.hex(), tmp_path / "moved.txt")
    assert ledger.get_data_chunk_source(digest) == tmp_path / "moved.txt"
    assert ledger.get_data_chunk_source(bytes(32)) is None


def test_a_failed_write_rolls_back_and_the_ledger_stays_usable(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError):
        with ledger._write() as conn:
            conn.execute("INSERT INTO kv (key, value) VALUES ('half', '1')")
            raise RuntimeError("crash in the middle of a batch")
    assert ledger.get_state("half") is None
    ledger.set_state("after", True)
    assert ledger.get_state("after") is True


def test_claims_are_bounded_per_author_and_in_lifetime(ledger: Ledger) -> None:
    from node.ledger import MAX_CLAIM_SECONDS, MAX_CLAIMS_PER_AUTHOR

    assert MAX_CLAIMS_PER_AUTHOR == 2
    assert ledger.put_claim(claim(ALICE, "f" * 40, T0 + MAX_CLAIM_SECONDS + 1)) is False  # lasts too long
    for i in range(300):  # a squatter: only its newest claims are kept
        ledger.put_claim(claim(ALICE, f"{i:040x}", T0 + 100 + i))
    assert ledger.put_claim(claim(BOB, "b" * 40, T0 + 200)) is True
    live = ledger.active_claims(SWARM, now=T0 + 10)
    assert sorted(c.blob for c in live if c.author == ALICE.public_key) == [f"{298:040x}", f"{299:040x}"]
    assert [c.blob for c in live if c.author == BOB.public_key] == ["b" * 40]
    assert ledger.put_claim(claim(ALICE, "e" * 40, T0 + 50)) is False  # older than both it keeps: not stored
    recent = ledger.recent_claims(SWARM)  # expired ones too: whether they were followed by a result
    assert len(recent) == 3 and {c.blob for c in recent} >= {"b" * 40}


def test_claims_of_many_fresh_keys_are_bounded_per_swarm(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    import node.ledger.peers as claims_table

    monkeypatch.setattr(claims_table, "MAX_CLAIMS_PER_SWARM", 5)
    for i in range(12):
        ledger.put_claim(claim(Identity.from_private_bytes(bytes([i + 1]) * 32), f"{i:040x}", T0 + 100 + i))
    assert sorted(c.blob for c in ledger.recent_claims(SWARM)) == [f"{i:040x}" for i in range(7, 12)]
