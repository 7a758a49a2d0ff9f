"""Size and range bounds of the wire, in one frozen record that callers may override (tests, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "DEFAULT_LIMITS", "PROTOCOL_VERSION"]

PROTOCOL_VERSION = 1
"""The one protocol version this code speaks; it is in every envelope, every body and every signature."""


@dataclass(frozen=True)
class Limits:
    """Every bound the decoder enforces. Sizes are bytes unless named ``*_chars``; times are seconds."""

    max_envelope: int = 16 * 1024
    """A signed Result or Claim envelope, whole."""
    max_manifest_envelope: int = 256 * 1024
    """A signed Manifest envelope, whole (it carries the program text)."""
    max_request: int = 2 * 1024 * 1024
    """One unsigned stream request or response, whole."""
    data_chunk: int = 512 * 1024
    """The payload of one ``DataResponse``."""
    max_commit_text: int = 256 * 1024
    """The train.py text of one ``CommitResponse`` (the gate allows 64 KiB; headroom, not a promise)."""
    max_description_chars: int = 280
    """``Result.description``."""
    max_name_chars: int = 64
    """``Manifest.name``, ``Manifest.metric_name``."""
    max_program_chars: int = 192 * 1024
    """``Manifest.program`` (program.md)."""
    max_spec_chars: int = 4096
    """``Manifest.data_spec``, ``Manifest.eval_spec``."""
    max_fingerprint_chars: int = 512
    """``Result.hw_fingerprint``."""
    max_sync_have: int = 20_000
    """Authors listed in one ``SyncRequest``."""
    max_sync_limit: int = 10_000
    """``SyncRequest.limit``."""
    future_skew: float = 600.0
    """How far in the future ``created_at`` may be, against the receiver's clock. The past is allowed (sync)."""
    max_claim_seconds: float = 24 * 3600.0
    """The longest a claim may last (``expires_at - created_at``)."""
    metric_min: float = 0.0
    """Lowest metric (val_bpb) of a keep/discard result."""
    metric_max: float = 64.0
    """Highest metric (val_bpb) of a keep/discard result."""

    def max_signed(self) -> int:
        """The largest signed envelope of any kind (the first, pre-decode size check)."""
        return max(self.max_envelope, self.max_manifest_envelope)


DEFAULT_LIMITS = Limits()
