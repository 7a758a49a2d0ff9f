"""Packaging: every third-party module the code imports is declared, and what is declared is imported."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.unit.test_layers import PACKAGES

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# Declared for a reason other than an import statement of ours.
NOT_IMPORTED = {
    "sqlite-utils": "also its CLI, documented in the README for querying the ledger",
}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def third_party_imports(root: Path) -> dict[str, str]:
    """Top-level module name -> one file importing it, over every module of the project's packages."""
    found: dict[str, str] = {}
    # files that are imported by their bare name inside the sandbox (train.py imports swarm_harness)
    local = {path.stem for path in (root / "trainer" / "locked").glob("*.py")}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in {*PACKAGES, *local, "__future__"}:
                        found.setdefault(top, str(path.relative_to(root)))
    return found


def test_every_imported_distribution_is_a_declared_dependency() -> None:
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    dists = packages_distributions()
    missing = {}
    for module, where in third_party_imports(ROOT).items():
        names = {_name(d) for d in dists.get(module, [])}
        assert names, f"{module} (imported in {where}) is not installed"
        if not names & declared:
            missing[module] = (where, sorted(names))
    assert missing == {}, f"imported but not in [project].dependencies: {missing}"


def test_every_declared_dependency_is_used() -> None:
    dists = packages_distributions()
    imported = {_name(d) for module in third_party_imports(ROOT) for d in dists.get(module, [])}
    unused = {_name(r) for r in PYPROJECT["project"]["dependencies"]} - imported - set(NOT_IMPORTED)
    assert unused == set(), f"declared but never imported: {unused} (use it, or drop it and say why in the README)"


def test_the_license_builds() -> None:
    assert PYPROJECT["project"]["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    [setuptools] = [r for r in PYPROJECT["build-system"]["requires"] if _name(r) == "setuptools"]
    floor = re.search(r">=\s*(\d+)", setuptools)
    assert floor and int(floor.group(1)) >= 77, "an SPDX license string needs setuptools >= 77"
