"""The gossip gate: what is accepted, what is rejected, who is blamed."""

from __future__ import annotations

import time

from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from node.net.gossip import GossipGate, Topics
from node.net.peers import PeerBook
from protocol import BudgetRule, Claim, Identity, Result, Verified, decode_and_verify, git_blob_hash, sign_message

SWARM = bytes(range(32))
AUTHOR = Identity.from_private_bytes(b"\x01" * 32)
RELAY = ID.from_base58(Identity.from_private_bytes(b"\x02" * 32).peer_id)
ME = Identity.from_private_bytes(b"\x03" * 32).peer_id


def result(seq: int, swarm: bytes = SWARM) -> bytes:
    return sign_message(AUTHOR, Result(
        swarm_id=swarm, author=AUTHOR.public_key, seq=seq, created_at=time.time(), commit="", parent="",
        blob=git_blob_hash(b"x"), metric=3.1, status="discard", hw_class="cpu:2t", hw_fingerprint="t",
        budget=BudgetRule(kind="seconds", amount=60), steps=1, tokens=1, wall_seconds=1.0, peak_memory_mb=1.0,
        description="d"))


def claim() -> bytes:
    now = time.time()
    return sign_message(AUTHOR, Claim(swarm_id=SWARM, author=AUTHOR.public_key, seq=0, created_at=now,
                                      blob=git_blob_hash(b"x"), expires_at=now + 60))


def msg(data: bytes) -> rpc_pb2.Message:
    return rpc_pb2.Message(data=data)


class Harness:
    def __init__(self, have: set[tuple[bytes, int]] | None = None, max_invalid: int = 3) -> None:
        self.book = PeerBook(max_invalid=max_invalid)
        self.results: list[Verified] = []
        self.claims: list[Verified] = []
        self.penalties: list[tuple[str, str]] = []
        held = have or set()
        self.gate = GossipGate(
            me=ME, verify=lambda raw: decode_and_verify(raw, expected_swarm=SWARM), admit=self.book.allow,
            have_result=lambda a, s: (a, s) in held, on_result=self.results.append, on_claim=self.claims.append,
            on_penalty=lambda p, r: (self.penalties.append((p, r)), self.book.penalise(p, r)), max_bytes=16 * 1024)


def test_topic_names_are_versioned_per_swarm() -> None:
    topics = Topics(SWARM)
    assert topics.results == f"/swarm-node/1/{SWARM.hex()}/results"
    assert topics.claims.endswith("/claims") and topics.claims != topics.results


def test_valid_result_accepted_once() -> None:
    h = Harness()
    raw = result(1)
    assert h.gate.results_validator(RELAY, msg(raw)) is True
    assert h.gate.results_validator(RELAY, msg(raw)) is False  # duplicate: dropped, not blamed
    assert [v.raw for v in h.results] == [raw] and h.penalties == []


def test_result_already_in_the_ledger_is_dropped_without_blame() -> None:
    h = Harness(have={(AUTHOR.public_key, 5)})
    assert h.gate.results_validator(RELAY, msg(result(5))) is False
    assert h.results == [] and h.penalties == []


def test_tampered_forged_oversized_garbage_and_wrong_swarm_are_blamed() -> None:
    h = Harness(max_invalid=4)
    raw = bytearray(result(2))
    raw[-5] ^= 0xFF
    bad = [bytes(raw), b"\x93garbage", b"x" * (17 * 1024), result(3, swarm=b"\x09" * 32)]
    assert [h.gate.results_validator(RELAY, msg(b)) for b in bad] == [False] * 4
    assert h.results == [] and len(h.penalties) == 4
    assert h.book.is_blacklisted(RELAY.to_base58())
    assert h.gate.results_validator(RELAY, msg(result(9))) is False  # blacklisted: not even looked at


def test_kinds_stay_on_their_topics() -> None:
    h = Harness()
    assert h.gate.claims_validator(RELAY, msg(claim())) is True
    assert len(h.claims) == 1
    assert h.gate.results_validator(RELAY, msg(claim())) is False
    assert h.penalties and "Claim" in h.penalties[0][1]


def test_own_messages_pass_unchecked() -> None:
    h = Harness()
    assert h.gate.results_validator(ID.from_base58(ME), msg(b"anything")) is True
    assert h.results == []


def test_a_claim_lasting_longer_than_the_node_allows_is_dropped_not_forwarded() -> None:
    from node.ledger import MAX_CLAIM_SECONDS

    h = Harness()
    now = time.time()
    long = sign_message(AUTHOR, Claim(swarm_id=SWARM, author=AUTHOR.public_key, seq=0, created_at=now,
                                      blob=git_blob_hash(b"y"), expires_at=now + MAX_CLAIM_SECONDS + 60))
    assert h.gate.claims_validator(RELAY, msg(long)) is False
    assert h.claims == [] and h.penalties == []  # valid under the protocol's limits: dropped, nobody blamed
