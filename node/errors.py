"""The node package's errors: one root, translated from third-party errors in one place each.

::

    NodeError                     root of everything node/ raises on purpose
    ├── ConfigError               a bad setting; the message names the key and where it came from
    ├── JoinStringError           a join string that cannot be used; the message says how to fix it
    ├── InputFileError            a file the user named is not a regular file, too large, or not UTF-8
    ├── LedgerError               the SQLite ledger cannot do what was asked
    │   ├── LedgerSchemaError     the file is not a ledger, is damaged, or was written by a newer swarm-node
    │   ├── LedgerReadOnly        a write on a ledger opened with ``readonly=True``
    │   └── RecordRejected        a commit or manifest whose bytes do not match the hash it was filed under
    └── NetworkError              the libp2p side (host, gossip, DHT, streams)
        └── PeerError             one peer misbehaved or could not be reached

sqlite3 errors are translated in ``node/ledger``; multiaddr parse errors in ``node/joinstring`` and ``node/config``.
"""

from __future__ import annotations

__all__ = [
    "NodeError",
    "ConfigError",
    "JoinStringError",
    "InputFileError",
    "LedgerError",
    "LedgerSchemaError",
    "LedgerReadOnly",
    "RecordRejected",
    "NetworkError",
    "PeerError",
]


class NodeError(Exception):
    """Root of the errors that node/ raises on purpose."""


class ConfigError(NodeError):
    """A setting is missing, malformed or out of range; the message names the key and its source."""


class JoinStringError(NodeError):
    """A join string (``swarm://<swarm id>@<multiaddr>,...``) cannot be parsed; the message says the fix."""


class InputFileError(NodeError):
    """A file named by the user (config.toml, program.md, train.py) cannot be used; the message says the fix."""


class LedgerError(NodeError):
    """The ledger (SQLite) could not be opened, read or written."""


class LedgerSchemaError(LedgerError):
    """The file is not a usable ledger: damaged, not SQLite, or from a newer schema version."""


class LedgerReadOnly(LedgerError):
    """A write was attempted on a ledger opened with ``readonly=True``."""


class RecordRejected(LedgerError):
    """A commit text or manifest envelope does not hash to the id it was filed under (or is too large)."""


class NetworkError(NodeError):
    """The libp2p host, gossip, DHT or a stream failed."""


class PeerError(NetworkError):
    """One peer sent something invalid, timed out or could not be reached."""
