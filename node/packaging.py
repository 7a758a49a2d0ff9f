"""Check that ``node``, ``protocol``, ``coordinator`` and ``trainer`` come from one installation.

The four top-level names are generic; a stray package of the same name earlier on ``sys.path`` would
silently replace ours. :func:`check_own_packages` returns a message naming the culprit, or ``None``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

__all__ = ["PACKAGES", "check_own_packages", "project_root"]

PACKAGES = ("node", "protocol", "coordinator", "trainer")


def project_root() -> Path:
    """The directory that holds the four packages (the repository root in a development install)."""
    return Path(__file__).resolve().parent.parent


def check_own_packages() -> str | None:
    """Return ``None`` when all four packages sit side by side in one root, else an explanation with the fix."""
    root = project_root()
    for name in PACKAGES:
        module = importlib.import_module(name)
        location = getattr(module, "__file__", None)
        if location is None or Path(location).resolve().parent.parent != root:
            return (
                f"the package {name!r} was imported from {location or 'a namespace package'}, not from {root}; "
                "another installed package uses the same name. Install swarm-node into its own virtual "
                "environment: python3 -m venv .venv && .venv/bin/pip install -e ."
            )
    return None
