"""ReplayGuard: exact duplicates and seqs below the floor are replays; out-of-order arrivals are not."""

from __future__ import annotations

import json
import random

import pytest

from protocol import MalformedMessage, Replayed, ReplayGuard

A = b"\xaa" * 32
B = b"\xbb" * 32


def test_out_of_order_arrivals_pass_and_duplicates_do_not() -> None:
    guard = ReplayGuard()
    order = list(range(1, 201))
    random.Random(7).shuffle(order)
    for seq in order:
        guard.check_and_update(A, seq)
    assert guard.floor(A) == 200 and guard.to_dict()[A.hex()]["above"] == []
    for seq in (1, 100, 200):
        with pytest.raises(Replayed):
            guard.check_and_update(A, seq)
    guard.check_and_update(B, 1)  # another author's seq space
    assert guard.authors() == 2


def test_gaps_are_remembered_until_filled() -> None:
    guard = ReplayGuard()
    for seq in (1, 2, 5, 7):
        guard.check_and_update(A, seq)
    assert guard.floor(A) == 2 and guard.seen(A, 5) and not guard.seen(A, 3)
    guard.check_and_update(A, 3)
    guard.check_and_update(A, 4)
    assert guard.floor(A) == 5 and not guard.seen(A, 6)


def test_the_window_folds_old_gaps_into_the_floor() -> None:
    guard = ReplayGuard(window=3)
    for seq in (10, 12, 14, 16):  # 1..9 never arrive
        guard.check_and_update(A, seq)
    assert guard.floor(A) == 10
    assert guard.to_dict()[A.hex()]["above"] == [12, 14, 16]
    with pytest.raises(Replayed, match="floor"):
        guard.check_and_update(A, 4)  # too old now: refused, not waited for
    guard.check_and_update(A, 11)  # fills a gap above the floor: the floor climbs the contiguous run
    assert guard.floor(A) == 12 and guard.to_dict()[A.hex()]["above"] == [14, 16]


def test_to_dict_from_dict_round_trips_through_json() -> None:
    guard = ReplayGuard()
    for seq in (1, 2, 3, 9, 12):
        guard.check_and_update(A, seq)
    guard.check_and_update(B, 1)
    loaded = ReplayGuard.from_dict(json.loads(json.dumps(guard.to_dict())))
    assert loaded.to_dict() == guard.to_dict()
    with pytest.raises(Replayed):
        loaded.check_and_update(A, 9)
    loaded.check_and_update(A, 4)


@pytest.mark.parametrize(
    "data",
    [
        {"zz": {"floor": 1}},
        {A.hex(): {"floor": -1}},
        {A.hex(): {"floor": True}},
        {A.hex(): {"floor": 5, "above": [3]}},
        {A.hex(): {}},
        {A.hex(): 3},
        {"aa": {"floor": 1}},
    ],
)
def test_from_dict_refuses_other_shapes(data: dict) -> None:
    with pytest.raises(MalformedMessage):
        ReplayGuard.from_dict(data)
