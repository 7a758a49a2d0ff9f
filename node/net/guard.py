"""``PeerGuard``: the one place a peer is charged for an invalid message, banned, and let back in.

The :class:`~node.net.peers.PeerBook` holds the counts and bans in memory (no I/O); the guard applies its verdicts:
it records the invalid message and the ban (reason, expiry) in the ledger, so bans outlive a restart, and tells the
network side through two callbacks (``on_ban``: blacklist in pubsub and hang up; ``on_lift``: take off the
blacklist). Every id it is given was authenticated by Noise (see ``node.net.host``), so a peer only charges itself.
"""

from __future__ import annotations

import logging
from typing import Callable

import trio

from node.ledger import Ledger
from node.net.peers import Ban, PeerBook

__all__ = ["PeerGuard", "BAN_CHECK_INTERVAL"]

log = logging.getLogger(__name__)

BAN_CHECK_INTERVAL = 10.0


class PeerGuard:
    """Charges, bans and lifts bans (see the module docstring)."""

    def __init__(self, book: PeerBook, ledger: Ledger, *, on_ban: Callable[[Ban], None],
                 on_lift: Callable[[str], None]) -> None:
        self.book = book
        self._ledger = ledger
        self._on_ban = on_ban
        self._on_lift = on_lift

    def is_banned(self, peer: str) -> bool:
        return self.book.is_blacklisted(peer)

    def admit(self, peer: str) -> bool:
        """Whether a message of ``peer`` may be looked at now (not banned; within its rate)."""
        return self.book.allow(peer)

    def load_bans(self) -> None:
        """Restore the bans the ledger holds (at start)."""
        try:
            bans = list(self._ledger.bans())
        except Exception:
            log.exception("could not read the bans from the ledger")
            return
        for peer, reason, until in bans:
            self.book.ban(peer, reason, until)

    def penalise(self, peer: str, reason: str) -> None:
        """Charge one invalid message to ``peer``; ban it once it has sent too many."""
        if self.book.is_blacklisted(peer):
            return  # already banned: its messages are dropped before anything costs a write
        try:
            self._ledger.note_invalid(peer, reason[:200])
        except Exception:
            log.exception("could not record an invalid message from %s", peer)
        ban = self.book.penalise(peer, reason)
        if ban is None:
            return
        try:
            self._ledger.ban_peer(ban.peer, ban.reason, ban.until)
        except Exception:
            log.exception("could not record the ban of %s", ban.peer)
        self._on_ban(ban)

    def bans(self) -> list[Ban]:
        """The bans in force now (peer, reason, until), soonest to expire first."""
        return self.book.bans()

    async def expire_bans(self, interval: float = BAN_CHECK_INTERVAL) -> None:
        """Lift bans as they expire, until cancelled."""
        while True:
            await trio.sleep(interval)
            for peer in self.book.expired():
                self._on_lift(peer)
                try:
                    self._ledger.lift_ban(peer)
                except Exception:
                    log.exception("could not lift the ban of %s in the ledger", peer)
