"""A node's Ed25519 identity: its key file, its signatures, and its libp2p peer id.

The key file is PKCS#8 PEM, mode 0600, in the node's home (``identity.key``). A file that group or others may read is
refused with ``KeyFileError`` and the ``chmod`` that fixes it. The 32-byte seed (``private_bytes``) is what py-libp2p's
``Ed25519PrivateKey.from_bytes`` takes, so the node's libp2p identity is the same key and the same peer id.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.errors import BadSignature, KeyFileError
from protocol.small_order import is_weak_public_key

__all__ = ["Identity", "peer_id_from_public_key", "verify_signature", "base58_encode"]

log = logging.getLogger(__name__)

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_PB_ED25519_PREFIX = b"\x08\x01\x12\x20"  # protobuf PublicKey{Type: Ed25519 (1), Data: 32 bytes}
_IDENTITY_MULTIHASH = b"\x00\x24"  # multihash code 0x00 (identity), length 36


def base58_encode(data: bytes) -> str:
    """base58btc (the Bitcoin alphabet), leading zero bytes as '1'."""
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(_B58[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def peer_id_from_public_key(pub: bytes) -> str:
    """The libp2p peer id ("12D3KooW...") of a raw 32-byte Ed25519 public key: the identity multihash of the protobuf
    ``PublicKey``, base58btc; what py-libp2p's ``ID.from_pubkey(key).to_base58()`` gives."""
    if type(pub) is not bytes or len(pub) != 32:
        raise KeyFileError("an Ed25519 public key is exactly 32 bytes")
    return _peer_id(pub)


@functools.lru_cache(maxsize=4096)
def _peer_id(pub: bytes) -> str:
    return base58_encode(_IDENTITY_MULTIHASH + _PB_ED25519_PREFIX + pub)


@functools.lru_cache(maxsize=4096)
def _public_key(pub: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(pub)


def verify_signature(pub: bytes, signature: bytes, data: bytes) -> None:
    """Raise ``BadSignature`` unless ``signature`` is ``pub``'s Ed25519 signature of ``data`` and ``pub`` is not a
    small-order key (for which OpenSSL would accept forged signatures; see ``protocol.small_order``)."""
    if is_weak_public_key(pub):
        raise BadSignature(f"key {pub.hex()[:16]}... is of small order or not canonical: anyone could sign for it")
    try:
        _public_key(pub).verify(signature, data)
    except (InvalidSignature, ValueError) as exc:
        raise BadSignature(f"signature does not verify for key {pub.hex()[:16]}...") from exc


class Identity:
    """An Ed25519 key pair: signs, and names the node (``public_key``, ``peer_id``)."""

    __slots__ = ("_key", "_public", "__weakref__")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @classmethod
    def generate(cls) -> Identity:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, b32: bytes) -> Identity:
        """The identity of a 32-byte Ed25519 seed."""
        if not isinstance(b32, (bytes, bytearray)) or len(b32) != 32:
            raise KeyFileError("an Ed25519 private key (seed) is exactly 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(bytes(b32)))

    @classmethod
    def load(cls, path: Path) -> Identity:
        """Load an existing key file; refuse one that group or others may access."""
        try:
            st = path.stat()
        except OSError as exc:
            raise KeyFileError(f"cannot read identity key {path}: {exc.strerror}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"identity key {path} is not a regular file")
        if os.name == "posix" and st.st_mode & 0o077:
            raise KeyFileError(
                f"identity key {path} is accessible by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                f"refusing to use it. Fix with: chmod 600 {path}"
            )
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise KeyFileError(f"identity key {path} is not a readable PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"identity key {path} is not an Ed25519 key ({type(key).__name__})")
        return cls(key)

    @classmethod
    def load_or_create(cls, path: Path) -> Identity:
        """Load the key at ``path``, or create it (mode 0600, parent made 0700) if there is none. Safe against two
        processes creating it at once: the loser loads the winner's key."""
        path = Path(path)
        if path.exists():
            return cls.load(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        identity = cls.generate()
        pem = identity._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # fails if another process won the race
            except FileExistsError:
                return cls.load(path)
        except OSError as exc:
            raise KeyFileError(f"cannot create identity key {path}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        log.info("created identity %s at %s", identity.peer_id, path)
        return identity

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key (the ``author`` of every message this node signs)."""
        return self._public

    @property
    def private_bytes(self) -> bytes:
        """The raw 32-byte seed; what libp2p's ``Ed25519PrivateKey.from_bytes`` takes. Keep it secret."""
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    @property
    def peer_id(self) -> str:
        return peer_id_from_public_key(self._public)

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self._key.sign(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other._public == self._public

    def __hash__(self) -> int:
        return hash(self._public)

    def __repr__(self) -> str:
        return f"Identity(peer_id={self.peer_id!r})"

