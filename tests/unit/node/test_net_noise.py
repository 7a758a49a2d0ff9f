"""py-libp2p's Noise transport, hardened: a frame that fails to decrypt closes one connection, not the host."""

from __future__ import annotations

import pytest
from libp2p.io.exceptions import ConnectionClosedError
from libp2p.security.noise.io import NoiseTransportReadWriter
from noise.exceptions import NoiseInvalidMessage

from node.net.host import harden_noise


class _FailingState:
    def decrypt(self, data: bytes) -> bytes:
        raise NoiseInvalidMessage("Failed authentication of message")


def test_a_frame_that_fails_to_decrypt_becomes_a_closed_connection() -> None:
    harden_noise()
    harden_noise()  # idempotent
    rw = NoiseTransportReadWriter.__new__(NoiseTransportReadWriter)
    rw.noise_state = _FailingState()  # type: ignore[assignment]
    with pytest.raises(ConnectionClosedError, match="failed to decrypt"):
        rw.decrypt(b"\x00" * 32)
