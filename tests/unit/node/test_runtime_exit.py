"""A node that has shut down leaves without the interpreter's last full garbage collections (node.runtime)."""

from __future__ import annotations

import gc

import node.runtime


def test_leave_quickly_takes_the_heap_out_of_the_exit_collections() -> None:
    gc.unfreeze()  # an in-process CLI test before this one may have left the heap frozen (run_join/run_verify)
    assert gc.get_freeze_count() == 0
    try:
        node.runtime.leave_quickly()
        assert gc.get_freeze_count() > 10_000  # every object the imports made (libp2p, trio, ...) is frozen
    finally:
        gc.unfreeze()  # this process goes on running tests
