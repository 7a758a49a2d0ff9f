"""Expired claims are pruned when the node starts and periodically after (a real ledger, trio's virtual clock)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import trio
import trio.testing

from node.housekeeping import CLAIM_KEEP_EXPIRED, CLAIM_PRUNE_INTERVAL, prune_claims_forever
from node.ledger import Ledger
from protocol import Claim, decode_and_verify, sign_message
from tests.factories import ALICE, BOB

SWARM = b"\x07" * 32
T0 = 1_767_225_600.0


def claim(who, blob: str, expires_at: float):  # type: ignore[no-untyped-def]
    message = Claim(swarm_id=SWARM, author=who.public_key, seq=0, created_at=T0, blob=blob, expires_at=expires_at)
    return decode_and_verify(sign_message(who, message), now=T0)


def stored_claims(ledger: Ledger) -> int:
    """Rows in the claims table, read by a second connection to the same file."""
    with sqlite3.connect(ledger.path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0])


def test_expired_claims_are_pruned_on_start_and_then_periodically(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    now = [T0 + 100 + CLAIM_KEEP_EXPIRED]  # the clock is a day past: claims expired within that day stay
    ledger.put_claim(claim(ALICE, "a" * 40, T0 + 50))  # expired before the node starts
    ledger.put_claim(claim(BOB, "b" * 40, T0 + 100 + CLAIM_PRUNE_INTERVAL / 2))  # a day old while it runs
    ledger.put_claim(claim(ALICE, "c" * 40, T0 + 1000))  # recent enough at the end (claims last <= 30 min)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: prune_claims_forever(ledger, clock=lambda: now[0]))
            await trio.sleep(1)
            assert stored_claims(ledger) == 2  # the one expired at start is gone
            now[0] += CLAIM_PRUNE_INTERVAL
            await trio.sleep(CLAIM_PRUNE_INTERVAL)
            assert stored_claims(ledger) == 1  # the next round took the one that expired meanwhile
            nursery.cancel_scope.cancel()

    try:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        assert [c.blob for c in ledger.recent_claims(SWARM)] == ["c" * 40]
    finally:
        ledger.close()
