"""``ThreadPorts``: the one adapter between the research side (a worker thread) and the network side (trio).

``coordinator.Researcher`` is synchronous and runs one whole experiment per ``step()``, so it runs in a worker
thread; it reaches everything outside itself through five ports, and this class implements all of them:

    swarm_view()                 the ledger's results and recent claims of this swarm   (ledger, no crossing)
    fetch_blob(blob)             a train.py: the ledger, else one crossing into trio to ask peers
    offer_text(blob, text, p)    a candidate filed before its claim, so peers can fetch what is in flight
    announce_claim(blob, until)  one crossing: sign and gossip a Claim
    publish(outcome)             the Outcome -> Result conversion (one Result per run), then one crossing that
                                 signs, stores and gossips them all

A result's path, read in order: ``Researcher.step`` -> ``ThreadPorts.publish`` -> :func:`results_of` ->
``NodeService.publish_result`` (next seq, ``protocol.seal``, ledger) -> ``pubsub.publish``. Nothing else in
``node/`` crosses from a thread into trio.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Protocol

import trio

from coordinator.records import ClaimLike, Outcome, SeenResult, SwarmView
from node.config import public_key_of_peer_id
from node.ledger import Ledger
from node.swarms import SwarmSpec, budget_rule
from protocol import Claim, Result, Verified, one_line, peer_id_from_public_key

__all__ = ["Network", "ThreadPorts", "results_of"]

log = logging.getLogger(__name__)


class Network(Protocol):
    """What the ports need of the network side (``node.net.service.NodeService`` is one)."""

    async def fetch_commit(self, blob: str, *, author: bytes = b"", parent: str = "") -> bytes | None: ...

    async def publish_result(self, result: Result) -> Verified: ...

    async def publish_claim(self, claim: Claim) -> Verified: ...


def results_of(outcome: Outcome, *, swarm: SwarmSpec, author: bytes, fingerprint: str,
               now: float | None = None) -> list[Result]:
    """The Results of one Outcome, ready to sign: one per run (its action, run index, metric, CPU- and wall-seconds,
    clock). ``seq`` is a placeholder that ``NodeService.publish_result`` replaces with the author's next one."""
    created = time.time() if now is None else now
    return [Result(swarm_id=swarm.swarm_id, author=author, seq=1, created_at=created, commit=outcome.commit,
                   parent=outcome.parent, blob=outcome.blob, hw_class=outcome.hw_class,
                   hw_fingerprint=fingerprint[:200], budget=budget_rule(swarm.budget),
                   description=one_line(outcome.description), reproduces=outcome.reproduces,
                   **run)  # type: ignore[arg-type]  # run_results(): the per-run fields, by name
            for run in outcome.run_results()]


def invalid_by_key(ledger: Ledger) -> dict[bytes, int]:
    """The ledger's invalid-message counts by author key (the coordinator's trust counts them against the peer)."""
    out: dict[bytes, int] = {}
    for row in ledger.peers():
        key = public_key_of_peer_id(row.peer_id) if row.invalid_count else None
        if key is not None:
            out[key] = row.invalid_count
    return out


class ThreadPorts:
    """The Researcher's ports for one swarm (see the module docstring). :meth:`bind` from the trio thread first;
    after :meth:`stop` (the node is leaving; an abandoned step may still be running) the ports write nothing."""

    def __init__(self, *, network: Network, ledger: Ledger, swarm: SwarmSpec, author: bytes, fingerprint: str,
                 on_outcome: Callable[[Outcome], None] | None = None) -> None:
        self._network = network
        self._ledger = ledger
        self._swarm = swarm
        self._author = author
        self._fingerprint = fingerprint
        self._on_outcome = on_outcome
        self._token: trio.lowlevel.TrioToken | None = None
        self.stopped = False

    def bind(self) -> None:
        """Remember the running trio loop (call from it): the ports' crossings go there."""
        self._token = trio.lowlevel.current_trio_token()

    def stop(self) -> None:
        self.stopped = True

    def swarm_view(self) -> SwarmView:
        rows = self._ledger.results(self._swarm.swarm_id)
        claims: list[ClaimLike] = list(self._ledger.recent_claims(self._swarm.swarm_id))  # expired: were they kept?
        return SwarmView(results=[SeenResult(r.message_id, r) for r in rows], claims=claims,
                         invalid=invalid_by_key(self._ledger))

    def fetch_blob(self, blob: str) -> str | None:
        text = self._ledger.get_commit(blob)
        if text is None and not self.stopped:
            text = trio.from_thread.run(self._network.fetch_commit, blob, trio_token=self._token)
        if text is None:
            return None
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return None

    def offer_text(self, blob: str, text: str, parent: str) -> None:
        """The text in flight, stored so the commit stream serves it: peers' study counts it as a pending trial."""
        if not self.stopped:
            self._ledger.put_commit(blob, text.encode("utf-8"), self._author, parent)

    def announce_claim(self, blob: str, expires_at: float) -> None:
        if self.stopped:
            return
        claim = Claim(swarm_id=self._swarm.swarm_id, author=self._author, seq=0, created_at=time.time(), blob=blob,
                      expires_at=expires_at)
        trio.from_thread.run(self._network.publish_claim, claim, trio_token=self._token)

    def publish(self, outcome: Outcome) -> None:
        if self.stopped:  # an abandoned step finishing after the node left: its result is not published
            return
        self._ledger.put_commit(outcome.blob, outcome.train_py.encode("utf-8"), self._author, outcome.parent)
        results = results_of(outcome, swarm=self._swarm, author=self._author, fingerprint=self._fingerprint)
        trio.from_thread.run(self._publish_all, results, trio_token=self._token)
        for change in outcome.trust_changes:
            self._ledger.set_trust(peer_id_from_public_key(change.peer), change.score)
        if self._on_outcome is not None:
            self._on_outcome(outcome)

    async def _publish_all(self, results: list[Result]) -> None:
        for result in results:
            await self._network.publish_result(result)
