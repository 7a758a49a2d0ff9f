"""Content hashes: git blob ids of train.py, message ids and swarm ids."""

from __future__ import annotations

import hashlib

__all__ = ["git_blob_hash", "message_id_of", "swarm_id_of"]


def git_blob_hash(text: bytes) -> str:
    """The git object id (40 hex, sha1) of a blob with these bytes: what ``git hash-object`` prints for the file."""
    return hashlib.sha1(b"blob %d\0" % len(text) + text).hexdigest()


def message_id_of(envelope: bytes) -> bytes:
    """The id of a signed message: sha256 of its exact envelope bytes (32 bytes)."""
    return hashlib.sha256(envelope).digest()


def swarm_id_of(manifest_envelope: bytes) -> bytes:
    """The swarm id: sha256 of the signed manifest envelope bytes (the manifest's own message id)."""
    return hashlib.sha256(manifest_envelope).digest()
