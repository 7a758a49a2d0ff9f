"""Ed25519 public keys of small order: the "anyone can sign" keys that signature checks must refuse.

OpenSSL (behind ``cryptography``) verifies without rejecting them: for the identity point ``01 00..00`` the signature
``01 00..00 || 00..00`` verifies for every message, so anyone could speak as that author. libsodium refuses these
keys by their encoding, and so does this module: the 8 points of small order have only five y coordinates
(1, p-1, 0, and +-y8 of the four points of order 8), and a point and its negation share y, so a key is refused when its
y is one of those five or is not reduced mod p (a non-canonical encoding). Keys that are not curve points at all are
refused by the signature check itself. A few microseconds; ``tests/unit/protocol/test_small_order.py`` proves the set
with real curve arithmetic.
"""

from __future__ import annotations

__all__ = ["is_weak_public_key", "SMALL_ORDER_ENCODINGS"]

P = 2**255 - 19
SMALL_ORDER_ENCODINGS = (
    bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000"),  # order 1 (0, 1)
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),  # order 2 (0, -1)
    bytes.fromhex("0000000000000000000000000000000000000000000000000000000000000000"),  # order 4 (+-sqrt(-1), 0)
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),  # order 8
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),  # order 8
)
_SMALL_ORDER_Y = frozenset(int.from_bytes(e, "little") & ((1 << 255) - 1) for e in SMALL_ORDER_ENCODINGS)


def is_weak_public_key(encoded: bytes) -> bool:
    """True for a key that must not be trusted: of small order (either x sign), or y not reduced mod p."""
    if len(encoded) != 32:
        return True
    y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
    return y >= P or y in _SMALL_ORDER_Y
