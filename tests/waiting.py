"""Waiting on predicates with a deadline, never on bare sleeps."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

import trio

T = TypeVar("T")

__all__ = ["wait_for", "await_for"]


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; return it, or fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what or predicate}")
        time.sleep(interval)


async def await_for(predicate: Callable[[], T], timeout: float, interval: float = 0.05, what: str = "") -> T:
    """The trio flavour of :func:`wait_for`."""
    with trio.move_on_after(timeout):
        while True:
            value = predicate()
            if value:
                return value
            await trio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what or predicate}")
