"""Reading the swarm's records: what is taken (dedupe + claims), which peer claims to check, what to stack, verified marks.

"Verified" is always for one node ``me``: its own re-run, a peer its user trusts, or ``QUORUM`` peers it reproduced
(:func:`vouched_peers`) confirmed the claim. Identities cost nothing, so attestations are weighed, never counted.

All functions take plain records (``SwarmView``, results, the trust book) and return plain values. The Researcher's
records are costs (lower is better, coordinator.direction); node/'s feed passes real metrics with the swarm's
``direction`` to the verification functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from coordinator.decide import comparable
from coordinator.records import ClaimLike, ResultLike, SeenResult
from coordinator.trust import TrustBook

__all__ = [
    "scored_blobs", "claimed_blobs", "UNKNOWN_CLAIM_SLOTS", "unfulfilled_claims", "CLAIM_GRACE", "adopt_candidates",
    "StackPair", "stack_pairs", "parent_blobs",
    "Verification", "verification", "verifications", "confirms", "verified_ids", "vouched_peers", "QUORUM",
]


def scored_blobs(results: Iterable[SeenResult], *, hw_class: str, budget_kind: str) -> set[str]:
    """Blobs the swarm has already scored in a way that competes with this node (crashes included)."""
    return {s.result.blob for s in results if comparable(s.result.hw_class, budget_kind, hw_class)}


UNKNOWN_CLAIM_SLOTS = 8  # blobs that claims of authors this node never reproduced may hold at once, one per author


def claimed_blobs(claims: Iterable[ClaimLike], *, me: bytes, now: float, trust: TrustBook,
                  slots: int = UNKNOWN_CLAIM_SLOTS) -> set[str]:
    """Blobs another node is running, so this node tries something else: every live claim of a peer this node
    reproduced (at least one of its claims confirmed here) and still trusts; of the authors it never reproduced, only
    each one's latest claim and at most ``slots`` in all (honest fresh nodes still avoid each other's work, and no
    number of fresh keys can hold more than ``slots`` ideas). An untrusted author's claims never count."""
    earned: set[str] = set()
    latest: dict[bytes, ClaimLike] = {}
    for c in claims:
        if c.author == me or c.expires_at <= now or not trust.trusted(c.author):
            continue
        if trust.get(c.author).confirmed > 0:
            earned.add(c.blob)
        elif c.author not in latest or c.expires_at > latest[c.author].expires_at:
            latest[c.author] = c
    unknown = sorted(latest.values(), key=lambda c: c.expires_at, reverse=True)[:max(0, slots)]
    return earned | {c.blob for c in unknown}


CLAIM_GRACE = 300.0  # seconds after a claim's expiry in which its result may still be on its way


def unfulfilled_claims(claims: Iterable[ClaimLike], results: Iterable[SeenResult], *, me: bytes, now: float,
                       grace: float = CLAIM_GRACE) -> dict[bytes, int]:
    """Per peer, how many of its claims expired more than ``grace`` ago with no result of its own for that blob (a
    crash counts as a result). They count against its trust (TrustBook.sync_unfulfilled)."""
    done = {(s.result.author, s.result.blob) for s in results}
    owed: dict[bytes, int] = {}
    for c in claims:
        if c.author != me and c.expires_at + grace < now and (c.author, c.blob) not in done:
            owed[c.author] = owed.get(c.author, 0) + 1
    return owed


def adopt_candidates(results: Sequence[SeenResult], *, me: bytes, best: float, trust: TrustBook, hw_class: str,
                     budget_kind: str, already_run: set[str]) -> list[SeenResult]:
    """Peers' kept claims better than ``best`` that this node has not run: best claim first.

    Only original claims (not attestations), only from trusted peers, only results that compete with this node.
    """
    out = [s for s in results
           if s.result.author != me and s.result.status == "keep" and not s.result.reproduces
           and s.result.metric < best and s.result.blob not in already_run and trust.trusted(s.result.author)
           and comparable(s.result.hw_class, budget_kind, hw_class)]
    out.sort(key=lambda s: (s.result.metric, s.result.created_at))
    return out


def parent_blobs(results: Iterable[SeenResult], *, baseline_commit: str, baseline_blob: str) -> dict[str, str]:
    """commit id -> blob id of train.py, from the results (each names its commit and blob) and the baseline."""
    index = {baseline_commit: baseline_blob}
    for s in results:
        if s.result.commit:
            index.setdefault(s.result.commit, s.result.blob)
    return index


@dataclass(frozen=True)
class StackPair:
    """Two kept improvements of the same base: their blobs, the base blob, and their metrics."""

    base: str
    a: ResultLike
    b: ResultLike

    @property
    def key(self) -> tuple[str, str]:
        return tuple(sorted((self.a.blob, self.b.blob)))  # type: ignore[return-value]


def stack_pairs(results: Sequence[SeenResult], *, me: bytes, best: float, margin: float, trust: TrustBook,
                hw_class: str, budget_kind: str, commit_blob: dict[str, str], tried: set[tuple[str, str]],
                recent: int = 40) -> list[StackPair]:
    """Pairs of kept improvements (own or trusted peers') with the same base blob, near this node's best first.

    A pair is worth merging when its better half is within ``margin`` of ``best`` (an older pair of improvements that
    this node has long passed would not beat its best).
    """
    authors = {s.result.author for s in results}
    allowed = {a for a in authors if a == me or trust.trusted(a)}
    kept = [s.result for s in results
            if s.result.status == "keep" and s.result.author in allowed
            and comparable(s.result.hw_class, budget_kind, hw_class) and s.result.parent in commit_blob]
    kept = sorted(kept, key=lambda r: r.created_at)[-recent:]
    by_base: dict[str, dict[str, ResultLike]] = {}
    for r in kept:
        base = commit_blob[r.parent]
        if base != r.blob:
            group = by_base.setdefault(base, {})
            if r.blob not in group or r.metric < group[r.blob].metric:
                group[r.blob] = r
    pairs = []
    for base, group in by_base.items():
        items = sorted(group.values(), key=lambda r: r.metric)
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                pair = StackPair(base=base, a=a, b=b)
                if pair.key not in tried and min(a.metric, b.metric) <= best + margin:
                    pairs.append(pair)
    pairs.sort(key=lambda p: p.a.metric + p.b.metric)
    return pairs


def confirms(attestation: ResultLike, claim: ResultLike, tolerance: float, *, direction: str = "min") -> bool:
    """Whether an attestation confirms a claim: it ran and scored within ``tolerance`` of the claimed metric (no
    worse than the claim less ``tolerance``: under ``max``, at least the claim minus ``tolerance``). The loop's
    records are costs already (coordinator.direction), so it keeps the default; node/ passes the manifest's."""
    if attestation.status == "crash":
        return False
    if direction == "max":
        return attestation.metric >= claim.metric - tolerance - 1e-12
    return attestation.metric <= claim.metric + tolerance + 1e-12


QUORUM = 2  # confirmations by earned verifiers that make a claim verified here (this node's own re-run alone does)


Votes = dict[bytes, dict[bytes, ResultLike]]  # claim id -> {attester: its latest attestation}


def _latest_votes(results: Sequence[SeenResult]) -> tuple[dict[bytes, ResultLike], Votes]:
    """(claims by id, claim id -> {attester: its latest attestation}), attestations by a claim's own author left out."""
    by_id = {s.result_id: s.result for s in results}
    votes: dict[bytes, dict[bytes, ResultLike]] = {}
    for s in results:
        r = s.result
        claim = by_id.get(r.reproduces) if r.reproduces else None
        if claim is None or r.author == claim.author:
            continue
        latest = votes.setdefault(r.reproduces, {})
        if r.author not in latest or r.created_at >= latest[r.author].created_at:
            latest[r.author] = r
    return by_id, votes


def vouched_peers(results: Sequence[SeenResult], *, me: bytes, tolerance: float = 0.01,
                  direction: str = "min") -> frozenset[bytes]:
    """The peers whose word counts here: this node re-ran at least one of their claims and it held, and the claims of
    theirs it confirmed outweigh three times those it refuted (the trust book's weights). Trust earned by reproduction:
    a fresh identity, however many there are, is never in this set."""
    by_id, votes = _latest_votes(results)
    held: dict[bytes, int] = {}
    failed: dict[bytes, int] = {}
    for claim_id, latest in votes.items():
        mine = latest.get(me)
        if mine is None:
            continue
        claim = by_id[claim_id]
        tally = held if confirms(mine, claim, tolerance, direction=direction) else failed
        tally[claim.author] = tally.get(claim.author, 0) + 1
    return frozenset(p for p, n in held.items() if p != me and n > 3 * failed.get(p, 0))


@dataclass(frozen=True)
class Verification:
    """The attestations of one claim by nodes other than its author (one vote per node, its latest), as this node
    weighs them: ``by_me`` is this node's own re-run (True held, False did not, None never re-run here) and
    ``counted`` the confirmations by verifiers this node trusts (see :func:`vouched_peers`)."""

    confirmed_by: frozenset[bytes]
    refuted_by: frozenset[bytes]
    by_me: bool | None = None
    counted: frozenset[bytes] = frozenset()
    by_trusted: bool = False  # confirmed by a peer on the user's own list (it counts as a re-run here)

    @property
    def verified(self) -> bool:
        """Re-run here and it held; or not re-run here and confirmed by a peer the user trusts or by ``QUORUM``
        verifiers this node reproduced."""
        return self.by_me is True or (self.by_me is None and (self.by_trusted or len(self.counted) >= QUORUM))


def _weigh(claim: ResultLike, latest: dict[bytes, ResultLike], tolerance: float, me: bytes,
           verifiers: frozenset[bytes], trusted: frozenset[bytes], direction: str = "min") -> Verification:
    yes = frozenset(a for a, r in latest.items() if confirms(r, claim, tolerance, direction=direction))
    mine = latest.get(me) if me and me != claim.author else None
    return Verification(confirmed_by=yes, refuted_by=frozenset(latest) - yes,
                        by_me=None if mine is None else me in yes, counted=(yes & (verifiers | trusted)) - {me},
                        by_trusted=bool((yes & trusted) - {me}))


def verification(result_id: bytes, results: Sequence[SeenResult], tolerance: float = 0.01,
                 lookup: Callable[[bytes], ResultLike | None] | None = None, *, me: bytes = b"",
                 verifiers: frozenset[bytes] | None = None, trusted: frozenset[bytes] = frozenset(),
                 direction: str = "min") -> Verification:
    """Who confirmed and who refuted the claim ``result_id``, and whether it is verified for node ``me`` whose earned
    verifiers are ``verifiers`` (default: :func:`vouched_peers` of ``results``) and whose user trusts ``trusted``."""
    claim = lookup(result_id) if lookup else next((s.result for s in results if s.result_id == result_id), None)
    if claim is None:
        return Verification(frozenset(), frozenset())
    latest: dict[bytes, ResultLike] = {}
    for s in results:
        r = s.result
        if r.reproduces == result_id and r.author != claim.author:
            if r.author not in latest or r.created_at >= latest[r.author].created_at:
                latest[r.author] = r
    if verifiers is None:
        verifiers = vouched_peers(results, me=me, tolerance=tolerance, direction=direction) if me else frozenset()
    return _weigh(claim, latest, tolerance, me, verifiers, trusted, direction)


def verified_ids(results: Sequence[SeenResult], tolerance: float = 0.01, *, me: bytes,
                 verifiers: frozenset[bytes] | None = None, trusted: frozenset[bytes] = frozenset()) -> set[bytes]:
    """The ids of every claim among ``results`` verified for node ``me`` (one pass): re-run by ``me`` and it held, or
    confirmed by one peer of ``trusted`` (the user's list) or ``QUORUM`` of ``verifiers`` (default:
    :func:`vouched_peers`)."""
    if verifiers is None:
        verifiers = vouched_peers(results, me=me, tolerance=tolerance)
    by_id, votes = _latest_votes(results)
    return {cid for cid, latest in votes.items()
            if _weigh(by_id[cid], latest, tolerance, me, verifiers, trusted).verified}


def verifications(results: Sequence[SeenResult], tolerance: float = 0.01, *, me: bytes, verifiers: frozenset[bytes],
                  trusted: frozenset[bytes] = frozenset(), direction: str = "min") -> dict[bytes, Verification]:
    """Claim id -> its :class:`Verification` for node ``me``, for every claim with an attestation (one pass)."""
    by_id, votes = _latest_votes(results)
    return {cid: _weigh(by_id[cid], latest, tolerance, me, verifiers, trusted, direction)
            for cid, latest in votes.items()}
