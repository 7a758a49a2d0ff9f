"""The import directions of the four packages, held by a test that fails when an arrow is broken.

What is true (and drawn in the README's Layout and docs/architecture.md)::

    node ──> coordinator ──> protocol
      │                         ^
      ├──> trainer              │
      └─────────────────────────┘

``protocol`` and ``trainer`` import nothing of the project; ``coordinator`` imports only ``protocol`` (it reaches
the trainer through the ``runner`` that node injects into ``Researcher``, never by import); ``node`` may import all
three. Every ``import``/``from ... import`` of every module counts, also those under ``if TYPE_CHECKING:`` and
inside functions: a lazy import is still an arrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PACKAGES = ("protocol", "trainer", "coordinator", "node")
ALLOWED: dict[str, frozenset[str]] = {
    "protocol": frozenset(),
    "trainer": frozenset(),
    "coordinator": frozenset({"protocol"}),
    "node": frozenset({"protocol", "trainer", "coordinator"}),
}


def imported_packages(source: str, module: str) -> set[tuple[str, int]]:
    """(top-level project package, line) for every import in ``source``; ``module`` is its dotted name (for
    resolving relative imports)."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split(".")[: -node.level]
                if node.module:
                    names = [".".join([*base, node.module])]
                else:  # ``from .. import x``: each name may be a module
                    names = [".".join([*base, alias.name]) for alias in node.names]
            else:
                names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top in PACKAGES:
                found.add((top, node.lineno))
    return found


def broken_arrows(root: Path) -> list[str]:
    """Every import under ``root`` that goes against :data:`ALLOWED`, as ``file:line: a imports b``."""
    problems: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            module = ".".join(rel.with_suffix("").parts)
            if rel.name == "__init__.py":
                module += ".__init__"  # so that a relative import resolves against the package itself
            for target, line in sorted(imported_packages(path.read_text(encoding="utf-8"), module)):
                if target != package and target not in ALLOWED[package]:
                    problems.append(f"{rel}:{line}: {package} imports {target}")
    return problems


def test_every_package_imports_only_downward() -> None:
    assert all((ROOT / p / "__init__.py").is_file() for p in PACKAGES)
    assert broken_arrows(ROOT) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("protocol/wire.py", "import node.config\n", "protocol/wire.py:1: protocol imports node"),
    ("trainer/run.py", "from coordinator import Researcher\n", "trainer/run.py:1: trainer imports coordinator"),
    ("coordinator/plan.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from trainer import Budget\n",
     "coordinator/plan.py:3: coordinator imports trainer"),
    ("coordinator/agents/llm.py", "def f():\n    from node.ledger import Ledger\n",
     "coordinator/agents/llm.py:2: coordinator imports node"),
    ("trainer/sub/x.py", "from ... import protocol\n", "trainer/sub/x.py:1: trainer imports protocol"),
])
def test_a_broken_arrow_is_caught(tmp_path: Path, name: str, text: str, expected: str) -> None:
    assert broken_arrows(_tree(tmp_path, {name: text})) == [expected]


def test_allowed_arrows_pass(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "node/cli.py": "import coordinator\nfrom trainer import x\nfrom protocol.envelope import y\nfrom . import z\n",
        "coordinator/x.py": "from protocol import Result\nfrom .plan import plan\nimport trio\n",
        "trainer/x.py": "from trainer.budget import Budget\nimport torch\n",
    })
    assert broken_arrows(root) == []


def test_one_spelling_per_idea() -> None:
    """The git blob id and the train.py size limit are each defined once: the coordinator's spellings are the
    protocol's and the trainer's, which the coordinator may not import (so this test, which sees all, holds them)."""
    import subprocess

    from coordinator.agents.prompt import MAX_FILE_BYTES
    from coordinator.texts import MAX_TRAIN_PY
    from coordinator.workspace import blob_hash
    from protocol import git_blob_hash
    from trainer.gate import MAX_TRAIN_PY_BYTES

    text = "N_LAYER = 4  # déjà vu\n"
    git = subprocess.run(["git", "hash-object", "--stdin"], input=text.encode(), capture_output=True, check=True)
    assert blob_hash(text) == git_blob_hash(text.encode()) == git.stdout.decode().strip()
    assert MAX_FILE_BYTES == MAX_TRAIN_PY == MAX_TRAIN_PY_BYTES
