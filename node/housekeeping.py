"""Upkeep of a running node's ledger, run as one task of ``node.runtime.Node.join``.

:func:`prune_claims_forever` deletes claims that expired more than :data:`CLAIM_KEEP_EXPIRED` ago, when the node
starts and then every :data:`CLAIM_PRUNE_INTERVAL` seconds. An expired claim is still evidence for a while (the
research loop asks ``recent_claims`` whether a claim ended without a result, which costs its author trust), so it
is kept for a day; after that it is dead weight.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Protocol

import trio

__all__ = ["CLAIM_PRUNE_INTERVAL", "CLAIM_KEEP_EXPIRED", "prune_claims_forever"]

log = logging.getLogger(__name__)

CLAIM_PRUNE_INTERVAL = 300.0
CLAIM_KEEP_EXPIRED = 86_400.0


class ClaimStore(Protocol):
    def prune_claims(self, now: float) -> int: ...


async def prune_claims_forever(ledger: ClaimStore, *, interval: float = CLAIM_PRUNE_INTERVAL,
                               keep_expired: float = CLAIM_KEEP_EXPIRED,
                               clock: Callable[[], float] = time.time) -> None:
    """Prune claims expired more than ``keep_expired`` ago, now and then every ``interval`` seconds, until cancelled."""
    while True:
        pruned = ledger.prune_claims(now=clock() - keep_expired)
        if pruned:
            log.info("ledger: %d expired claim(s) pruned", pruned)
        await trio.sleep(interval)
