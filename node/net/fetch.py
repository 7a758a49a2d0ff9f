"""Commit, manifest and data streams: serve what the ledger holds, fetch and verify what it lacks.

- ``/swarm-node/commit/1``: a train.py blob by its git hash; the asker checks ``git_blob_hash(text)``.
- ``/swarm-node/manifest/1``: a swarm's signed manifest; the asker checks ``swarm_id_of(envelope)``
  and the signature.
- ``/swarm-node/data/1``: a data file in chunks of ``Limits`` size; the asker checks the sha256 of the
  whole file before it is renamed into place.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable, Protocol

from libp2p.abc import IHost
from libp2p.peer.id import ID

from protocol import (
    CommitRequest, CommitResponse, DataRequest, DataResponse, Manifest, ManifestRequest, ManifestResponse,
    ProtocolError, decode_and_verify, decode_request, encode_request, git_blob_hash, swarm_id_of,
)
from node.net.errors import BadPayload
from node.net.streams import request

__all__ = [
    "COMMIT_PROTOCOL", "MANIFEST_PROTOCOL", "DATA_PROTOCOL", "CHUNK_BYTES",
    "FetchServer", "fetch_commit_from", "fetch_manifest_from", "fetch_data_from", "verify_manifest",
]

log = logging.getLogger(__name__)

COMMIT_PROTOCOL = "/swarm-node/commit/1"
MANIFEST_PROTOCOL = "/swarm-node/manifest/1"
DATA_PROTOCOL = "/swarm-node/data/1"
CHUNK_BYTES = 512 << 10
MAX_CHUNKS = 1 << 16  # 32 GiB at 512 KiB a chunk


class FetchLedger(Protocol):
    def get_commit(self, blob: str) -> bytes | None: ...
    def get_manifest(self, swarm_id: bytes) -> bytes | None: ...


class FetchServer:
    """Answers commit, manifest and data requests from the ledger and the shared data files."""

    def __init__(self, ledger: FetchLedger, locate_data: Callable[[bytes], Path | None]) -> None:
        self._ledger = ledger
        self._locate = locate_data

    async def commit(self, remote: str, data: bytes) -> bytes:
        req = decode_request(data, CommitRequest)
        text = self._ledger.get_commit(req.blob)
        return encode_request(CommitResponse(blob=req.blob, text=text or b"", found=text is not None))

    async def manifest(self, remote: str, data: bytes) -> bytes:
        req = decode_request(data, ManifestRequest)
        env = self._ledger.get_manifest(req.swarm_id)
        return encode_request(ManifestResponse(envelope=env or b"", found=env is not None))

    async def data(self, remote: str, data: bytes) -> bytes:
        req = decode_request(data, DataRequest)
        path = self._locate(req.data_hash)
        if path is None or not path.is_file():
            return encode_request(DataResponse(data_hash=req.data_hash, chunk=req.chunk, total_chunks=0,
                                               payload=b"", found=False))
        size = path.stat().st_size
        total = max(1, -(-size // CHUNK_BYTES))
        if not 0 <= req.chunk < total:
            return encode_request(DataResponse(data_hash=req.data_hash, chunk=req.chunk, total_chunks=total,
                                               payload=b"", found=False))
        with path.open("rb") as fh:
            fh.seek(req.chunk * CHUNK_BYTES)
            payload = fh.read(CHUNK_BYTES)
        return encode_request(DataResponse(data_hash=req.data_hash, chunk=req.chunk, total_chunks=total,
                                           payload=payload, found=True))


async def fetch_commit_from(host: IHost, peer: ID, blob: str, *, timeout: float, max_response: int) -> bytes | None:
    """The train.py text of ``blob`` from ``peer``; None if it lacks it. :class:`BadPayload` on a hash mismatch."""
    answer = await request(host, peer, COMMIT_PROTOCOL, encode_request(CommitRequest(blob=blob)),
                           max_response=max_response, timeout=timeout)
    try:
        resp = decode_request(answer, CommitResponse)
    except ProtocolError as exc:
        raise BadPayload(f"commit answer from {peer}: {exc}") from exc
    if not resp.found:
        return None
    if git_blob_hash(resp.text) != blob:
        raise BadPayload(f"commit answer from {peer}: text does not hash to {blob}")
    return bytes(resp.text)


def verify_manifest(envelope: bytes, swarm_id: bytes) -> None:
    """Raise :class:`BadPayload` unless ``envelope`` is a signed Manifest whose hash is ``swarm_id``."""
    if swarm_id_of(envelope) != swarm_id:
        raise BadPayload("manifest does not hash to the swarm id")
    try:
        verified = decode_and_verify(envelope)
    except ProtocolError as exc:
        raise BadPayload(f"manifest: {type(exc).__name__}: {exc}") from exc
    if not isinstance(verified.message, Manifest):
        raise BadPayload(f"a {type(verified.message).__name__}, not a manifest")


async def fetch_manifest_from(
    host: IHost, peer: ID, swarm_id: bytes, *, timeout: float, max_response: int
) -> bytes | None:
    """The signed manifest envelope of ``swarm_id`` from ``peer``, verified; None if it lacks it."""
    answer = await request(host, peer, MANIFEST_PROTOCOL, encode_request(ManifestRequest(swarm_id=swarm_id)),
                           max_response=max_response, timeout=timeout)
    try:
        resp = decode_request(answer, ManifestResponse)
    except ProtocolError as exc:
        raise BadPayload(f"manifest answer from {peer}: {exc}") from exc
    if not resp.found:
        return None
    verify_manifest(bytes(resp.envelope), swarm_id)
    return bytes(resp.envelope)


async def fetch_data_from(
    host: IHost, peer: ID, data_hash: bytes, dest: Path, *, timeout: float, max_response: int
) -> bool:
    """Fetch the file with sha256 ``data_hash`` from ``peer`` into ``dest``; False if the peer lacks it.

    Chunks go to ``dest`` + ``.partial``; the file is renamed into place only when its hash matches.
    """
    partial = dest.with_name(dest.name + ".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    chunk, total = 0, 1
    try:
        with partial.open("wb") as fh:
            while chunk < total:
                answer = await request(host, peer, DATA_PROTOCOL,
                                       encode_request(DataRequest(data_hash=data_hash, chunk=chunk)),
                                       max_response=max_response, timeout=timeout)
                try:
                    resp = decode_request(answer, DataResponse)
                except ProtocolError as exc:
                    raise BadPayload(f"data answer from {peer}: {exc}") from exc
                if not resp.found:
                    return False
                if resp.chunk != chunk or resp.data_hash != data_hash or not 0 < resp.total_chunks <= MAX_CHUNKS:
                    raise BadPayload(f"data answer from {peer}: wrong chunk or hash")
                if chunk == 0:
                    total = resp.total_chunks
                elif resp.total_chunks != total:
                    raise BadPayload(f"data answer from {peer}: chunk count changed")
                if len(resp.payload) > CHUNK_BYTES or (chunk < total - 1 and len(resp.payload) != CHUNK_BYTES):
                    raise BadPayload(f"data answer from {peer}: chunk {chunk} has the wrong size")
                fh.write(resp.payload)
                digest.update(resp.payload)
                chunk += 1
        if digest.digest() != data_hash:
            raise BadPayload(f"data from {peer} does not hash to {data_hash.hex()}")
        os.replace(partial, dest)
        return True
    finally:
        partial.unlink(missing_ok=True)
