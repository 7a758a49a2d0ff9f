from __future__ import annotations

from coordinator.trust import TrustBook

from tests.unit.coordinator.make import LIAR, PEER


def test_one_refuted_claim_drops_a_peer_under_the_threshold_at_once() -> None:
    book = TrustBook(threshold=-2.0)
    assert book.trusted(LIAR)
    change = book.refute(LIAR)
    assert change.event == "refuted" and change.score == -3.0 and not book.trusted(LIAR)
    book.confirm(PEER)
    assert book.score(PEER) == 1.0 and book.trusted(PEER)


def test_invalid_counts_only_grow_and_lower_trust() -> None:
    book = TrustBook()
    assert [c.score for c in book.sync_invalid({PEER: 2})] == [-2.0]
    assert book.sync_invalid({PEER: 1}) == []  # a lower count from node/ changes nothing
    book.sync_invalid({PEER: 3})
    assert not book.trusted(PEER)


def test_unfulfilled_claims_lower_trust_while_they_are_owed() -> None:
    book = TrustBook()
    [change] = book.sync_unfulfilled({PEER: 2})
    assert change.event == "unfulfilled" and change.score == -3.0 and not book.trusted(PEER)
    book.confirm(PEER)
    assert book.get(PEER).unfulfilled == 2 and book.get(PEER).confirmed == 1
    assert [c.score for c in book.sync_unfulfilled({})] == [1.0]  # its newer claims were followed by results
    assert book.sync_unfulfilled({}) == []
