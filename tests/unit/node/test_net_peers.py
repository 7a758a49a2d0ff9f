"""PeerBook: rate limits before signature checks, penalties, the blacklist."""

from __future__ import annotations

from node.net.peers import PeerBook, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_refills_at_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=5.0)
    assert [bucket.take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert bucket.take(0.1) is True   # one token back after 0.1 s at 10/s
    assert bucket.take(0.1) is False


def test_rate_limit_is_per_peer() -> None:
    clock = Clock()
    book = PeerBook(rate=1.0, burst=2.0, clock=clock)
    assert [book.allow("a") for _ in range(3)] == [True, True, False]
    assert book.allow("b") is True
    clock.now += 1.0
    assert book.allow("a") is True


def test_blacklisted_after_max_invalid_and_then_never_admitted() -> None:
    book = PeerBook(max_invalid=3)
    assert book.penalise("rogue", "bad signature") is None
    assert book.penalise("rogue", "garbage") is None
    ban = book.penalise("rogue", "oversized")               # the third puts it on the list
    assert ban is not None and "oversized" in ban.reason
    assert book.penalise("rogue", "again") is None           # reported once only
    assert book.is_blacklisted("rogue") and book.invalid_count("rogue") == 4
    assert book.allow("rogue") is False
    assert book.allow("honest") is True
    assert book.blacklisted() == frozenset({"rogue"})


def test_ban_blocks_at_once() -> None:
    book = PeerBook()
    book.ban("known-bad", "from the ledger")
    assert book.allow("known-bad") is False


def test_a_ban_says_why_and_expires() -> None:
    clock, wall = Clock(), Clock()
    book = PeerBook(max_invalid=2, ban_seconds=60.0, clock=clock, wall=wall)
    book.penalise("rogue", "garbage")
    ban = book.penalise("rogue", "oversized message (2097152 bytes)")
    assert ban is not None and ban.until == wall.now + 60.0
    assert "2 invalid messages" in ban.reason and "oversized" in ban.reason
    assert [b.peer for b in book.bans()] == ["rogue"] and not book.allow("rogue")
    wall.now += 59.0
    assert book.is_blacklisted("rogue") and book.expired() == []
    wall.now += 2.0
    assert book.expired() == ["rogue"]
    assert not book.is_blacklisted("rogue") and book.allow("rogue") and book.invalid_count("rogue") == 0
    assert book.bans() == []
