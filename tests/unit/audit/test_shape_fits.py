"""The shape check's column-at-a-time pass (``shape.fits``) against the walk that names the place
(``shape._bad``): it says yes only where the walk finds nothing, on honest records and on records
with values swapped for others of every kind."""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.audit import shape

HELD_ROW = ["j1", 4, 3600.0, None, "AT", "p", "u", "normal", 1, 0.0, False, 10.0]
HELD_ROW += ["e", True, 12.0, ["j1", "h100", [3, 4], [2, 2]], 12.0, 3612.0]
RECORD: dict[str, Any] = {
    "scheduler": "v",
    "topology": "sha256:t",
    "now": 1000.0,
    "seq": 2,
    "part": 1,
    "parts": 1,
    "prev": "sha256:p",
    "body": {
        "reset": False,
        "history": {"at": 990.0, "by_user": []},
        "history_by_user": [["AT", "p", "u", 12.5], ["BE", "q", "v", 3]],
        "queue_set": [["j2", 8, 60, "h100", "BE", "q", "v", "high", 2, 30.0, True, 5, "e"]],
        "holding_set": [HELD_ROW],
        "queue_drop": ["j0"],
        "down_set": [7],
        "starts": [["j2", "h100", [1], [8]]],
        "preemptions": [["j9", "j2", 12.0]],
        "rejections": [["j3", "too-big", "no pool"]],
        "follows": None,
        "policy": {
            "name": "full",
            "order": "fairshare",
            "backfill": "easy",
            "preemption": True,
            "aging_s": "inf",
            "reservation_reuse_s": 60.0,
            "max_drain_s": 3600,
            "reservations": 1,
            "preemption_attempts": 2,
            "max_victims": 4,
            "depth": 64,
        },
    },
}
NUMBERS = [0, -1, 2**53, 2**53 + 1, -(2**53) - 1, 10**400, 1.5, math.inf, -math.inf, math.nan, 1e300]
ODD = st.sampled_from(
    [None, True, False, *NUMBERS, "", "x", "inf", [], [1], [[1]], {}, {"seq": 1, "digest": "d"}, ("t",), b"b"]
)


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value``, itself included."""
    out = [path]
    if isinstance(value, dict):
        for key, v in value.items():
            out += _places(v, (*path, key))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _places(v, (*path, i))
    return out


PLACES = _places(RECORD)


def _has(target: Any, key: Any) -> bool:
    if isinstance(target, dict):
        return key in target
    return isinstance(target, list) and isinstance(key, int) and key < len(target)


def _put(record: Any, path: tuple[Any, ...], value: Any) -> Any:
    """``record`` with ``value`` at ``path``, where the record (changed before) still has it."""
    if not path:
        return copy.deepcopy(value)
    target = record
    for key in path[:-1]:
        if not _has(target, key):
            return record
        target = target[key]
    if _has(target, path[-1]):
        target[path[-1]] = copy.deepcopy(value)
    return record


def test_an_honest_record_fits() -> None:
    assert shape.fits([RECORD], shape.CYCLE_PART)
    assert shape.problem(RECORD, shape.CYCLE_PART) is None


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PLACES), ODD), min_size=1, max_size=3))
def test_it_fits_only_where_the_walk_finds_nothing(swaps: list[tuple[tuple[Any, ...], Any]]) -> None:
    record: Any = copy.deepcopy(RECORD)
    for path, value in swaps:
        record = _put(record, path, value)
    walked = shape._bad(record, shape.CYCLE_PART)
    assert not shape.fits([record], shape.CYCLE_PART) or walked is None
    assert shape.problem(record, shape.CYCLE_PART) == (None if walked is None else "data" + walked)


@settings(max_examples=300, deadline=None)
@given(st.recursive(ODD, lambda inner: st.lists(inner, max_size=4), max_leaves=12))
def test_rows_of_any_values_fit_only_where_the_walk_finds_nothing(value: Any) -> None:
    for s in (shape.HELD, shape.QUEUED, shape.PLACEMENT, shape.Each(shape.INT), shape.Each(shape.HELD)):
        assert not shape.fits([value], s) or shape._bad(value, s) is None
