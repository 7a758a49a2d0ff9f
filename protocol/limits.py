"""Size and range bounds of the wire, in one frozen record that callers may override (tests, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "DEFAULT_LIMITS", "PROTOCOL_VERSION", "SIGNED_VERSION", "STREAM_VERSION"]

PROTOCOL_VERSION = 3
"""The newest version of the signed messages; it is in every envelope, every body and every signature. Decoders
accept every version from 1 to this one (version 1 results decode with their version-2 fields filled in; version 3
changed only the manifest: its ``rungs``)."""

SIGNED_VERSION: dict[str, int] = {"manifest": 3, "claim": 1, "result": 2}
"""The version each kind is signed at: the version that last changed its body. A manifest is signed at the lowest
version that holds its fields (``protocol.envelope.signed_version``): without rungs at version 2, and with the
version-2 fields (task, eval_blob) at their defaults too at version 1, so that its bytes, and the swarm id that is
their hash, stay what they were (the built-in swarm and every swarm seeded before a version keep their ids)."""

STREAM_VERSION = 1
"""The version of the unsigned stream requests and responses (unchanged by versions 2 and 3)."""


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
