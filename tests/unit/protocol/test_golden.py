"""Golden vectors: the canonical bytes of fixed messages, signed by fixed keys, are stable across runs and versions.

``golden_v1.json`` keeps the version-1 vectors (before results gained action/run_index/cpu_seconds/clock); they
must still decode (tests/unit/protocol/test_versions.py). Manifests and claims are still signed at version 1.

A change here is a wire change: peers running the old code would refuse the new bytes (or give them other ids).
Regenerate on purpose only, with ``.venv/bin/python -m tests.unit.protocol.test_golden``, and say so in the commit.
"""

from __future__ import annotations

import json
from pathlib import Path

from protocol import (
    CommitRequest,
    DataResponse,
    SyncRequest,
    decode_and_verify,
    decode_request,
    encode_request,
    git_blob_hash,
    sign_message,
    swarm_id_of,
)
from tests.unit.protocol.factories import ALICE, BOB, NOW, SWARM, claim, manifest, result

GOLDEN = Path(__file__).with_name("golden.json")
SIGNED = {
    "manifest": manifest,
    "result": lambda: result(seq=7, action="explore", run_index=2, cpu_seconds=120.5, clock="cpu"),
    "attestation": lambda: result(BOB, seq=1, reproduces=bytes(range(64, 96)), action="verify", run_index=3,
                                  cpu_seconds=119.75, clock="cpu"),
    "claim": claim,
}
STREAMS = {
    "sync_req": SyncRequest(swarm_id=SWARM, have=((ALICE.public_key, 7), (BOB.public_key, 1)), limit=512),
    "commit_req": CommitRequest(blob="3" * 40),
    "data_resp": DataResponse(data_hash=SWARM, chunk=0, total_chunks=1, payload=b"to be or not to be", found=True),
}


def compute() -> dict[str, object]:
    signed = {}
    for name, make in SIGNED.items():
        message = make()
        identity = ALICE if message.author == ALICE.public_key else BOB
        signed[name] = sign_message(identity, message).hex()
    return {
        "keys": {
            who.peer_id: {"seed": who.private_bytes.hex(), "public": who.public_key.hex()} for who in (ALICE, BOB)
        },
        "signed": signed,
        "swarm_id": swarm_id_of(bytes.fromhex(signed["manifest"])).hex(),
        "streams": {name: encode_request(message).hex() for name, message in STREAMS.items()},
        "git_blob_hash": {"print('hello')\n": git_blob_hash(b"print('hello')\n")},
    }


def test_canonical_bytes_match_the_golden_file() -> None:
    assert compute() == json.loads(GOLDEN.read_text())


def test_golden_envelopes_decode_to_their_messages() -> None:
    golden = json.loads(GOLDEN.read_text())
    for name, make in SIGNED.items():
        raw = bytes.fromhex(golden["signed"][name])
        assert decode_and_verify(raw, now=NOW).message == make()
    manifest_raw = bytes.fromhex(golden["signed"]["manifest"])
    assert decode_and_verify(manifest_raw, now=NOW).message_id.hex() == golden["swarm_id"]
    for name, message in STREAMS.items():
        assert decode_request(bytes.fromhex(golden["streams"][name]), type(message)) == message


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(compute(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {GOLDEN}")
