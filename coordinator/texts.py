"""The train.py texts one node's research knows: remembered by blob, fetched from peers on demand (checked against
the hash; a miss is retried a few steps later), the coordinator's own lint of a proposal, and the trials handed to
agents that learn from texts."""

from __future__ import annotations

import ast
from typing import Any, Callable, Sequence

from coordinator.branch import trial_texts
from coordinator.records import ScoredText
from coordinator.workspace import blob_hash

__all__ = ["TextBook", "gate", "MAX_TRAIN_PY", "FETCH_RETRY_STEPS", "TRIAL_FETCHES"]

MAX_TRAIN_PY = 64 * 1024
FETCH_RETRY_STEPS = 5
TRIAL_FETCHES = 24  # texts of peers' results fetched per step for agents that learn from trials


def gate(text: str) -> bool:
    """The coordinator's own lint of a proposal: UTF-8, at most 64 KiB, parses."""
    try:
        if len(text.encode("utf-8")) > MAX_TRAIN_PY:
            return False
        ast.parse(text)
    except (SyntaxError, ValueError, UnicodeError):
        return False
    return True


class TextBook:
    """Texts by blob; ``fetch_blob`` asks the network for one this node has not seen (None: not served)."""

    def __init__(self, fetch_blob: Callable[[str], str | None]) -> None:
        self.fetch_blob = fetch_blob
        self.texts: dict[str, str] = {}
        self._missing: dict[str, int] = {}  # blob -> step count before which a failed fetch is not retried
        self.steps = 0

    def remember(self, text: str) -> str:
        blob = blob_hash(text)
        self.texts[blob] = text
        return blob

    def get(self, blob: str) -> str | None:
        """A train.py by blob: known here, or fetched (verified against the hash; a miss is retried 5 steps later)."""
        if blob in self.texts:
            return self.texts[blob]
        if self.steps < self._missing.get(blob, -1):
            return None
        text = self.fetch_blob(blob)
        if text is not None and blob_hash(text) == blob:
            self.texts[blob] = text
            return text
        self._missing[blob] = self.steps + FETCH_RETRY_STEPS
        return None

    def trials(self, trusted: Sequence[Any], pending: Sequence[str], me: bytes) -> list[ScoredText]:
        """Trials for agents that learn from texts: known texts, and at most ``TRIAL_FETCHES`` fetches per step."""
        fetches = [TRIAL_FETCHES]

        def text_of(blob: str) -> str | None:
            if blob in self.texts or fetches[0] <= 0:
                return self.texts.get(blob)
            fetches[0] -= 1
            return self.get(blob)
        return trial_texts(trusted, pending, text_of, me)
