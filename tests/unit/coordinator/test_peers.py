from __future__ import annotations

from coordinator.peers import (CLAIM_GRACE, UNKNOWN_CLAIM_SLOTS, adopt_candidates, claimed_blobs, parent_blobs,
                               scored_blobs, stack_pairs, unfulfilled_claims, verification, verified_ids,
                               vouched_peers)
from coordinator.trust import TrustBook

from tests.unit.coordinator.make import LIAR, ME, PEER, PEER2, claim, result, seen


def test_scored_blobs_depend_on_class_under_a_time_budget_only() -> None:
    results = [seen(result(blob="a" * 40)), seen(result(blob="b" * 40, hw_class="cuda:H100", status="crash"))]
    assert scored_blobs(results, hw_class="cpu:2t", budget_kind="seconds") == {"a" * 40}
    assert scored_blobs(results, hw_class="cpu:2t", budget_kind="tokens") == {"a" * 40, "b" * 40}


def test_claims_block_until_they_expire_and_unknown_authors_hold_few_ideas() -> None:
    book = TrustBook()
    book.confirm(PEER)
    book.confirm(LIAR)
    book.refute(LIAR)
    book.refute(LIAR)
    claims = [claim(blob="1" * 40, expires_at=50), claim(blob="2" * 40, expires_at=5), claim(blob="6" * 40),
              claim(author=ME, blob="3" * 40), claim(author=LIAR, blob="4" * 40)]
    assert claimed_blobs(claims, me=ME, now=10.0, trust=book) == {"1" * 40, "6" * 40}
    # authors never reproduced here: only each one's latest claim, and at most UNKNOWN_CLAIM_SLOTS in all
    squat = [claim(author=PEER2, blob=f"{i:040x}", expires_at=100 + i) for i in range(50)]
    assert claimed_blobs(squat, me=ME, now=10.0, trust=book) == {f"{49:040x}"}
    sybils = [claim(author=bytes([0x40 + i]) * 32, blob=f"{i:040x}", expires_at=100 + i) for i in range(50)]
    held = claimed_blobs(sybils, me=ME, now=10.0, trust=book)
    assert held == {f"{i:040x}" for i in range(50 - UNKNOWN_CLAIM_SLOTS, 50)}


def test_a_claim_never_followed_by_a_result_is_owed_by_its_author() -> None:
    claims = [claim(blob="1" * 40, expires_at=50), claim(blob="2" * 40, expires_at=50),
              claim(author=PEER2, blob="3" * 40, expires_at=500), claim(author=ME, blob="4" * 40, expires_at=50)]
    results = [seen(result(blob="2" * 40, status="crash"))]  # a crash is a result: the claim was honest
    assert unfulfilled_claims(claims, results, me=ME, now=50 + CLAIM_GRACE + 1) == {PEER: 1}
    assert unfulfilled_claims(claims, results, me=ME, now=60.0) == {}  # within the grace: results may be in flight


def test_adopt_candidates_are_better_trusted_original_claims_best_first() -> None:
    book = TrustBook()
    book.refute(LIAR)
    rs = [seen(result(blob="1" * 40, metric=2.30)), seen(result(blob="2" * 40, metric=2.20, author=PEER2)),
          seen(result(blob="3" * 40, metric=2.50)),                       # worse than our best
          seen(result(blob="4" * 40, metric=1.00, author=LIAR)),          # untrusted
          seen(result(blob="5" * 40, metric=2.00, status="discard")),     # not kept
          seen(result(blob="6" * 40, metric=2.00, reproduces=b"x" * 32)),  # an attestation, not a claim
          seen(result(blob="7" * 40, metric=2.00, hw_class="cuda:H100")),  # other class, time budget
          seen(result(blob="8" * 40, metric=2.10))]                       # already run here
    got = adopt_candidates(rs, me=ME, best=2.40, trust=book, hw_class="cpu:2t", budget_kind="seconds",
                           already_run={"8" * 40})
    assert [s.result.blob[0] for s in got] == ["2", "1"]


def test_stack_pairs_share_a_base_blob() -> None:
    base_commit, base_blob = "c0" * 20, "b0" * 20
    rs = [seen(result(blob="1" * 40, metric=2.30, parent=base_commit, commit="c1" * 20)),
          seen(result(author=PEER2, blob="2" * 40, metric=2.32, parent=base_commit, commit="c2" * 20)),
          seen(result(author=ME, blob="3" * 40, metric=2.20, parent="c1" * 20, commit="c3" * 20))]
    index = parent_blobs(rs, baseline_commit=base_commit, baseline_blob=base_blob)
    pairs = stack_pairs(rs, me=ME, best=2.31, margin=0.02, trust=TrustBook(), hw_class="cpu:2t",
                        budget_kind="seconds", commit_blob=index, tried=set())
    assert [(p.base, p.a.blob[0], p.b.blob[0]) for p in pairs] == [(base_blob, "1", "2")]
    assert stack_pairs(rs, me=ME, best=2.31, margin=0.02, trust=TrustBook(), hw_class="cpu:2t",
                       budget_kind="seconds", commit_blob=index, tried={pairs[0].key}) == []


def test_fresh_identities_cannot_verify_a_claim_however_many() -> None:
    claim_r = seen(result(author=PEER, metric=2.30))
    cid = claim_r.result_id
    rs = [claim_r, seen(result(author=PEER, metric=2.30, reproduces=cid, seq=2))]  # the author itself: no vote
    rs += [seen(result(author=bytes([0x40 + i]) * 32, metric=2.29, reproduces=cid)) for i in range(5)]
    v = verification(cid, rs, me=ME)
    assert len(v.confirmed_by) == 5 and not v.verified and v.by_me is None and v.counted == frozenset()
    assert verified_ids(rs, me=ME) == set()


def test_this_nodes_own_rerun_verifies_or_refutes() -> None:
    claim_r = seen(result(author=PEER, metric=2.30))
    cid = claim_r.result_id
    rs = [claim_r, seen(result(author=ME, metric=2.305, reproduces=cid))]
    assert verification(cid, rs, me=ME).verified and verified_ids(rs, me=ME) == {cid}
    assert not verification(cid, rs, me=PEER2).verified  # another node's view: one fresh confirmation is not enough
    rs.append(seen(result(author=ME, metric=2.60, reproduces=cid, seq=2, created_at=2000.0)))  # the latest fails
    v = verification(cid, rs, me=ME)
    assert v.by_me is False and not v.verified and v.refuted_by == {ME}


def test_attestations_count_only_from_peers_this_node_reproduced() -> None:
    # ME re-ran a claim of PEER2 and one of LIAR: PEER2's held, LIAR's did not
    p2 = seen(result(author=PEER2, metric=2.20, blob="2" * 40))
    li = seen(result(author=LIAR, metric=1.00, blob="4" * 40))
    rs = [p2, li, seen(result(author=ME, metric=2.21, reproduces=p2.result_id, blob="2" * 40)),
          seen(result(author=ME, metric=2.50, reproduces=li.result_id, blob="4" * 40))]
    assert vouched_peers(rs, me=ME) == {PEER2}
    claim_r = seen(result(author=PEER, metric=2.10, blob="1" * 40))
    cid = claim_r.result_id
    rs += [claim_r, seen(result(author=PEER2, metric=2.10, reproduces=cid)),
           seen(result(author=LIAR, metric=2.10, reproduces=cid))]
    v = verification(cid, rs, me=ME)
    assert v.counted == {PEER2} and not v.verified  # one earned verifier is under the quorum of two
    third = seen(result(author=PEER, metric=2.30, blob="5" * 40, seq=3))  # PEER earns trust too, on another claim...
    rs += [third, seen(result(author=ME, metric=2.30, reproduces=third.result_id, blob="5" * 40))]
    other = seen(result(author=LIAR, metric=2.05, blob="6" * 40, seq=3))  # ... and confirms LIAR's new claim with PEER2
    rs += [other, seen(result(author=PEER, metric=2.05, reproduces=other.result_id)),
           seen(result(author=PEER2, metric=2.05, reproduces=other.result_id))]
    assert vouched_peers(rs, me=ME) == {PEER, PEER2}
    assert other.result_id in verified_ids(rs, me=ME) and verification(other.result_id, rs, me=ME).verified
    assert verified_ids(rs, me=ME, verifiers=frozenset({LIAR})) == {p2.result_id, third.result_id}
