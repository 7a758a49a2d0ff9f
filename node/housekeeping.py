"""Upkeep of a running node's ledger, run as one task of ``join`` (and of the runtime that will own it).

:func:`prune_claims_forever` deletes expired claims when the node starts and then every
:data:`CLAIM_PRUNE_INTERVAL` seconds: a claim is only a hint that someone is training a blob until its expiry, so
an expired one is dead weight (without this, every claim ever heard stayed in the ledger).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Protocol

import trio

__all__ = ["CLAIM_PRUNE_INTERVAL", "prune_claims_forever"]

log = logging.getLogger(__name__)

CLAIM_PRUNE_INTERVAL = 300.0


class ClaimStore(Protocol):
    def prune_claims(self, now: float) -> int: ...


async def prune_claims_forever(ledger: ClaimStore, *, interval: float = CLAIM_PRUNE_INTERVAL,
                               clock: Callable[[], float] = time.time) -> None:
    """Prune expired claims now, then every ``interval`` seconds, until cancelled."""
    while True:
        pruned = ledger.prune_claims(now=clock())
        if pruned:
            log.info("ledger: %d expired claim(s) pruned", pruned)
        await trio.sleep(interval)
