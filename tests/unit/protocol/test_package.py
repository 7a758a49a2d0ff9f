"""protocol/ stands alone: it imports the standard library, msgpack and cryptography, and nothing of the project."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import protocol

ALLOWED = {"msgpack", "cryptography", "protocol", "__future__"}


def test_protocol_imports_nothing_of_the_project_nor_libp2p() -> None:
    package = Path(protocol.__file__).parent
    found: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.name)
    outside = {
        top: files for top, files in found.items()
        if top not in sys.stdlib_module_names and top not in ALLOWED
    }
    assert outside == {}


def test_the_public_api_is_exported_and_every_module_is_mapped_in_the_docstring() -> None:
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    doc = protocol.__doc__ or ""
    for path in Path(protocol.__file__).parent.glob("*.py"):
        if path.name != "__init__.py":
            assert f"``{path.name}``" in doc, path.name
