"""``Links`` and the modules that compose a running node take their collaborators as arguments: the sync interval
comes from ``NodeConfig``, and none of them reads another object's private members (the circle
``NodeService`` -> ``Links(self)`` -> ``service._verify`` is gone)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from node.config import load_config
from node.errors import ConfigError
from node.net.links import NetSettings

ROOT = Path(__file__).resolve().parents[3]

COMPOSING = ("node/net/links.py", "node/net/service.py", "node/net/inbox.py", "node/net/guard.py",
             "node/runtime.py", "node/ports.py", "node/research.py", "node/cli/network_cmd.py")
"""The modules that wire a node together (the libp2p patches in host.py, relay.py and duplex.py reach into
py-libp2p's privates on purpose, and say so)."""


def private_reads(source: str) -> list[str]:
    """Every ``x._name`` where ``x`` is not ``self`` or ``cls`` (``self._svc._verify`` counts), as ``line: expr``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_sync_interval_comes_from_the_config_not_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARM_NODE_SYNC_INTERVAL", "0.5")  # the process environment, not the config's
    assert NetSettings.from_config(load_config(env={})).sync_interval == 5.0
    assert NetSettings.from_config(load_config(env={"SWARM_NODE_SYNC_INTERVAL": "2"})).sync_interval == 2.0
    assert NetSettings.from_config(load_config(env={}, overrides={"sync_interval": 60.0})).sync_interval == 60.0
    with pytest.raises(ConfigError, match="sync_interval"):
        load_config(env={"SWARM_NODE_SYNC_INTERVAL": "0"})


def test_no_composing_module_reads_another_objects_private_members() -> None:
    problems = {path: private_reads((ROOT / path).read_text(encoding="utf-8")) for path in COMPOSING}
    assert {path: found for path, found in problems.items() if found} == {}


def test_the_check_catches_a_reach_into_a_collaborator() -> None:
    planted = "class Links:\n    def f(self):\n        return self._svc._verify(b'')\n"
    assert private_reads(planted) == ["3: self._svc._verify"]
