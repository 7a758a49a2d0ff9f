"""Anti-entropy over ``/swarm-node/sync/1``: "the results you hold that I lack".

The asker sends its per-author seq vector (highest contiguous seq held); the server answers with the
raw envelopes above it, bounded in count and bytes, and says whether more remain. The asker verifies
every envelope (a server is not trusted more than gossip), stores the batch in one transaction and asks
again with its new vector until nothing new arrives. Gossip may drop; this is what guarantees that
every node ends up with every result.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable, Protocol, Sequence

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID

from protocol import ProtocolError, SyncRequest, SyncResponse, Verified, decode_request, encode_request
from node.net.errors import BadPayload
from node.net.streams import request

__all__ = ["SYNC_PROTOCOL", "SyncServer", "pull_from", "SyncLedger"]

log = logging.getLogger(__name__)

SYNC_PROTOCOL = "/swarm-node/sync/1"
BATCH = 512                   # envelopes asked for per round
RESPONSE_BYTES = 1_536 << 10  # stay under protocol's 2 MiB bound for one response
MAX_ROUNDS = 10_000


class SyncLedger(Protocol):
    def seq_vector(self, swarm_id: bytes) -> dict[bytes, int]: ...
    def results_since(self, swarm_id: bytes, have: dict[bytes, int], limit: int) -> list[bytes]: ...


class SyncServer:
    """Answers sync requests for one swarm from the ledger."""

    def __init__(self, swarm_id: bytes, ledger: SyncLedger) -> None:
        self._swarm_id = swarm_id
        self._ledger = ledger
        self.served = 0

    async def handle(self, remote: str, data: bytes) -> bytes:
        req = decode_request(data, SyncRequest)
        if req.swarm_id != self._swarm_id:
            return encode_request(SyncResponse(envelopes=(), more=False))
        limit = max(1, min(int(req.limit), BATCH))
        raws = await trio.to_thread.run_sync(self._ledger.results_since, self._swarm_id, dict(req.have), limit)
        out: list[bytes] = []
        size = 0
        for raw in raws:
            if out and size + len(raw) + 16 > RESPONSE_BYTES:
                break
            out.append(raw)
            size += len(raw) + 16
        more = len(out) < len(raws) or len(raws) >= limit
        self.served += len(out)
        log.debug("sync to %s: %d envelopes, more=%s", remote, len(out), more)
        return encode_request(SyncResponse(envelopes=tuple(out), more=more))


async def pull_from(
    host: IHost,
    peer: ID,
    *,
    swarm_id: bytes,
    ledger: SyncLedger,
    verify: Callable[[bytes], Verified],
    store: Callable[[Sequence[Verified]], Awaitable[int]],
    timeout: float,
    max_response: int,
) -> int:
    """Pull everything ``peer`` holds that the ledger lacks; return how many results were new.

    Raises ``StreamFailed`` (network) or :class:`BadPayload` (the peer served something invalid).
    """
    total = 0
    for _ in range(MAX_ROUNDS):
        have = tuple(sorted(ledger.seq_vector(swarm_id).items()))
        req = encode_request(SyncRequest(swarm_id=swarm_id, have=have, limit=BATCH))
        answer = await request(host, peer, SYNC_PROTOCOL, req, max_response=max_response, timeout=timeout)
        try:
            resp = decode_request(answer, SyncResponse)
            batch = [verify(raw) for raw in resp.envelopes]
        except ProtocolError as exc:
            raise BadPayload(f"sync answer from {peer}: {type(exc).__name__}: {exc}") from exc
        new = await store(batch) if batch else 0
        total += new
        if not resp.more or new == 0:
            break
    return total
