"""Fetch servers (commit, manifest, data chunks) and the manifest check, against a real ledger file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio

from node.ledger import Ledger
from node.net.errors import BadPayload
from node.net.fetch import CHUNK_BYTES, FetchServer, verify_manifest
from protocol import (
    CommitRequest, CommitResponse, DataRequest, DataResponse, ManifestRequest, ManifestResponse, decode_request,
    encode_request, git_blob_hash, swarm_id_of,
)
from tests.factories import ALICE, make_manifest


def test_commit_and_manifest_served_from_the_ledger(tmp_path: Path) -> None:
    envelope = make_manifest(ALICE)
    swarm = swarm_id_of(envelope)
    text = b"LR = 1e-3\n"
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.put_manifest(swarm, envelope)
        ledger.put_commit(git_blob_hash(text), text, ALICE.public_key, "")
        server = FetchServer(ledger, lambda h: None)
        got = decode_request(trio.run(server.commit, "p", encode_request(CommitRequest(blob=git_blob_hash(text)))),
                             CommitResponse)
        assert got.found and got.text == text
        missing = decode_request(trio.run(server.commit, "p", encode_request(CommitRequest(blob="0" * 40))),
                                 CommitResponse)
        assert not missing.found
        man = decode_request(trio.run(server.manifest, "p", encode_request(ManifestRequest(swarm_id=swarm))),
                             ManifestResponse)
        assert man.found and man.envelope == envelope


def test_data_in_chunks(tmp_path: Path) -> None:
    data = tmp_path / "corpus"
    data.write_bytes(b"ab" * (CHUNK_BYTES // 2) + b"tail")
    digest = hashlib.sha256(data.read_bytes()).digest()
    server = FetchServer(object(), {digest: data}.get)  # type: ignore[arg-type]

    def chunk(i: int, h: bytes = digest) -> DataResponse:
        raw = trio.run(server.data, "p", encode_request(DataRequest(data_hash=h, chunk=i)))
        return decode_request(raw, DataResponse)

    first, last = chunk(0), chunk(1)
    assert first.total_chunks == 2 and len(first.payload) == CHUNK_BYTES
    assert last.payload == b"tail" and hashlib.sha256(first.payload + last.payload).digest() == digest
    assert not chunk(2).found
    assert not chunk(0, b"\x00" * 32).found


def test_verify_manifest_refuses_a_manifest_of_another_swarm() -> None:
    envelope = make_manifest(ALICE)
    verify_manifest(envelope, swarm_id_of(envelope))
    with pytest.raises(BadPayload):
        verify_manifest(make_manifest(ALICE, name="other"), swarm_id_of(envelope))
    with pytest.raises(BadPayload):
        verify_manifest(b"\x00" * 40, hashlib.sha256(b"\x00" * 40).digest())
