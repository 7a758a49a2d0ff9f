from __future__ import annotations

from pathlib import Path

import coordinator
import node
import protocol
import trainer
from node.packaging import check_own_packages, project_root

ROOT = Path(__file__).resolve().parents[3]


def test_project_packages_come_from_this_checkout() -> None:
    for module in (node, protocol, coordinator, trainer):
        assert Path(module.__file__).resolve().parent.parent == ROOT
    assert project_root() == ROOT
    assert check_own_packages() is None
