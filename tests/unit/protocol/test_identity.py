"""Identity: the key file (mode, races, corruption), signatures, and the libp2p peer id."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from protocol import BadSignature, Identity, KeyFileError, git_blob_hash, peer_id_from_public_key
from protocol.identity import base58_encode, verify_signature


def test_load_or_create_makes_a_0600_key_and_loads_it_back(node_home: Path) -> None:
    path = node_home / "sub" / "identity.key"
    first = Identity.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = Identity.load_or_create(path)
    assert again.public_key == first.public_key and again.private_bytes == first.private_bytes
    assert not [p for p in path.parent.iterdir() if p.name != "identity.key"]  # no temp file left


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_readable_by_others_is_refused(node_home: Path, mode: int) -> None:
    path = node_home / "identity.key"
    Identity.load_or_create(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        Identity.load_or_create(path)


def test_corrupt_and_foreign_key_files_are_refused(node_home: Path) -> None:
    path = node_home / "identity.key"
    path.write_bytes(b"not a key")
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="PEM"):
        Identity.load(path)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    with pytest.raises(KeyFileError, match="not an Ed25519"):
        Identity.load(path)
    with pytest.raises(KeyFileError):
        Identity.load(node_home / "missing.key")
    with pytest.raises(KeyFileError, match="regular file"):
        Identity.load(node_home)


def test_from_private_bytes_and_signatures() -> None:
    seed = bytes(range(32))
    me = Identity.from_private_bytes(seed)
    assert me.private_bytes == seed and len(me.public_key) == 32
    assert me == Identity.from_private_bytes(seed) and me != Identity.generate()
    signature = me.sign(b"data")
    verify_signature(me.public_key, signature, b"data")
    with pytest.raises(BadSignature):
        verify_signature(me.public_key, signature, b"datA")
    with pytest.raises(KeyFileError):
        Identity.from_private_bytes(b"short")
    assert seed.hex() not in repr(me) and me.peer_id in repr(me)


def test_peer_id_is_what_py_libp2p_derives() -> None:
    from libp2p.crypto.ed25519 import Ed25519PrivateKey
    from libp2p.peer.id import ID

    for seed in (bytes(32), bytes(range(32)), Identity.generate().private_bytes):
        me = Identity.from_private_bytes(seed)
        theirs = Ed25519PrivateKey.from_bytes(seed)
        assert theirs.get_public_key().to_bytes() == me.public_key
        theirs_id = ID.from_pubkey(theirs.get_public_key()).to_base58()
        assert theirs_id == me.peer_id == peer_id_from_public_key(me.public_key)
    assert me.peer_id.startswith("12D3KooW")
    with pytest.raises(KeyFileError):
        peer_id_from_public_key(b"\x01" * 31)


def test_base58_and_git_blob_hash_known_vectors() -> None:
    assert base58_encode(b"\x00\x00hello world") == "11StV1DL6CwTryKyV"
    assert git_blob_hash(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git hash-object /dev/null
    assert git_blob_hash(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_losing_a_creation_race_loads_the_winners_key(node_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = node_home / "identity.key"
    winner = Identity.load_or_create(path)
    monkeypatch.setattr(Path, "exists", lambda self: False)  # as if the winner wrote it just after our check
    assert Identity.load_or_create(path) == winner
    assert sorted(p.name for p in node_home.iterdir()) == ["identity.key"]


def test_signatures_are_not_malleable() -> None:
    me = Identity.generate()
    signature = me.sign(b"m")
    group_order = 2**252 + 27742317777372353535851937790883648493
    s_plus_l = int.from_bytes(signature[32:], "little") + group_order  # verifies under a lax S check
    with pytest.raises(BadSignature):
        verify_signature(me.public_key, signature[:32] + s_plus_l.to_bytes(32, "little"), b"m")
