"""The shape of what a replay reads from the log, checked before anything else reads it (pure).

A hostile log is signed like an honest one, so every value a record or a topology part holds is
checked against the shape ``ledger`` and ``topology_wire`` write (docs/audit.md) before it is used:
objects with known keys, rows of fixed length, finite numbers no larger than 2^53, strings where ids
go. The shape is a fixed tree, so a value nested deeper than the shape allows is refused without
descending into it. A problem is one sentence naming the field (``body.queue_set[3][1]``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import chain

from pnyx.audit.wire import Json

LIMIT = 2**53  # the largest magnitude a number may have: exact as a float and as an integer


@dataclass(frozen=True, slots=True)
class Kind:
    """A leaf: what it must be (said in the problem), and the test."""

    name: str
    test: Callable[[Json], bool]


@dataclass(frozen=True, slots=True)
class Each:
    """A list of values of one shape."""

    item: Shape


@dataclass(frozen=True, slots=True)
class Obj:
    """An object with these keys only; ``required`` of them must be there."""

    fields: Mapping[str, Shape]
    required: frozenset[str] = frozenset()


Shape = Kind | Each | Obj | tuple["Shape", ...]  # a tuple: a row of fixed length, one shape per place


def _is_number(v: Json) -> bool:
    """JSON reads numbers as exactly int or float (``bool`` is no number here)."""
    if type(v) is float:
        return math.isfinite(v) and -LIMIT <= v <= LIMIT
    return type(v) is int and -LIMIT <= v <= LIMIT


def _is_int(v: Json) -> bool:
    return type(v) is int and -LIMIT <= v <= LIMIT


TEXT = Kind("a string", lambda v: isinstance(v, str))
TEXT_OR_NULL = Kind("a string or null", lambda v: v is None or isinstance(v, str))
NUMBER = Kind("a finite number", _is_number)
INT = Kind("an integer", _is_int)
POSITIVE = Kind("a positive integer", lambda v: _is_int(v) and v > 0)
FLAG = Kind("true or false", lambda v: isinstance(v, bool))
LIMIT_VALUE = Kind('a finite number or "inf"', lambda v: v == "inf" or _is_number(v))
FOLLOWS = Kind(
    "null or an object of seq (a positive integer) and digest (a string) only",
    lambda v: (
        v is None
        or (
            isinstance(v, dict)
            and v.keys() == {"seq", "digest"}
            and _is_int(v["seq"])
            and v["seq"] > 0
            and isinstance(v["digest"], str)
        )
    ),
)  # a reset record's: the record before it in the log

JOB = (TEXT, POSITIVE, NUMBER, TEXT_OR_NULL, TEXT, TEXT, TEXT, TEXT, INT, NUMBER, FLAG, NUMBER)
PLACEMENT = (TEXT, TEXT, Each(INT), Each(INT))
QUEUED = (*JOB, TEXT)
HELD = (*JOB, TEXT, FLAG, NUMBER, PLACEMENT, NUMBER, NUMBER)

POLICY_FIELDS: tuple[str, ...] = ("name", "order", "backfill", "preemption")
POLICY_FIELDS += ("aging_s", "reservation_reuse_s", "max_drain_s")
POLICY_FIELDS += ("reservations", "preemption_attempts", "max_victims", "depth")
SETTINGS: dict[str, Shape] = {
    "shares": Obj(
        {"members": Each((TEXT, NUMBER)), "projects": Each((TEXT, TEXT, NUMBER)), "half_life_s": NUMBER},
        frozenset({"members", "projects", "half_life_s"}),
    ),
    "history": Obj({"at": NUMBER, "by_user": Each((TEXT, TEXT, TEXT, NUMBER))}, frozenset({"at", "by_user"})),
    "queue_ahead": Obj({"engines": Each(TEXT), "depth": INT}, frozenset({"engines", "depth"})),
    "policy": Obj(
        {
            **dict.fromkeys(("name", "order", "backfill"), TEXT),
            "preemption": FLAG,
            **dict.fromkeys(("aging_s", "reservation_reuse_s", "max_drain_s"), LIMIT_VALUE),
            **dict.fromkeys(("reservations", "preemption_attempts", "max_victims", "depth"), INT),
        },
        frozenset(POLICY_FIELDS),
    ),
}
BODY = Obj(
    {
        "reset": FLAG,
        "follows": FOLLOWS,
        **SETTINGS,
        "holding_order": Each(TEXT),
        "history_by_user": Each((TEXT, TEXT, TEXT, NUMBER)),
        "shares_projects": Each((TEXT, TEXT, NUMBER)),
        "queue_set": Each(QUEUED),
        "holding_set": Each(HELD),
        **dict.fromkeys(("queue_drop", "holding_drop", "requeue"), Each(TEXT)),
        **dict.fromkeys(("down_set", "down_drop"), Each(INT)),
        **dict.fromkeys(("starts", "ahead"), Each(PLACEMENT)),
        "preemptions": Each((TEXT, TEXT, NUMBER)),
        "rejections": Each((TEXT, TEXT, TEXT)),
    }
)
_HEAD = {"scheduler": TEXT, "topology": TEXT, "now": NUMBER, "seq": POSITIVE, "part": POSITIVE}
CYCLE_PART = Obj(
    {**_HEAD, "parts": POSITIVE, "prev": TEXT, "body": BODY}, frozenset({*_HEAD, "parts", "prev", "body"})
)
_TOPOLOGY = {"digest": TEXT, "part": POSITIVE, "parts": POSITIVE, "first": INT}
TOPOLOGY_PART = Obj(
    {
        **_TOPOLOGY,
        "pools": Each((TEXT, INT, INT, NUMBER)),
        "nodes": Each((TEXT, INT, INT, FLAG, INT, INT, INT, INT)),
    },
    frozenset({*_TOPOLOGY, "pools", "nodes"}),
)


def problem(value: Json, shape: Shape, where: str = "data") -> str | None:
    """The first place where ``value`` is not of ``shape``, as a sentence; None when it is (``fits``
    first: the walk that names the place runs only where it says no)."""
    if fits([value], shape):
        return None
    bad = _bad(value, shape)
    return None if bad is None else where + bad


def fits(values: list[Json], shape: Shape) -> bool:
    """Whether every one of ``values`` is of ``shape``, checked a column at a time (a row's places
    gathered across rows, by ``zip``, ``map`` and ``set``: the walk's per-value calls, in C). Stricter
    than ``_bad`` where that is cheaper (exact types, as JSON reads them): False sends the caller to
    ``_bad``, which decides; True only where ``_bad`` finds nothing."""
    if isinstance(shape, Kind):
        column = _COLUMNS.get(shape)
        return column(values) if column is not None else all(map(shape.test, values))
    if isinstance(shape, Obj):
        return _objects(values, shape)
    if not _types(values, _LIST):
        return False
    if isinstance(shape, Each):
        return fits(list(chain.from_iterable(values)), shape.item)
    if set(map(len, values)) - {len(shape)}:
        return False
    columns = zip(*values, strict=True)  # one per place: the rows are all as long as the shape
    return not values or all(fits(list(column), s) for column, s in zip(columns, shape, strict=True))


def _objects(values: list[Json], shape: Obj) -> bool:
    """``fits`` for objects: known keys only, the required there, each value of its field's shape."""
    known = shape.fields.keys()
    for value in values:
        if type(value) is not dict or not value.keys() <= known or not shape.required <= value.keys():
            return False
        if not all(fits([v], shape.fields[k]) for k, v in value.items()):
            return False
    return True


def _types(values: list[Json], allowed: frozenset[type]) -> bool:
    return set(map(type, values)) <= allowed


def _numbers(values: list[Json]) -> bool:
    """Finite and within ``LIMIT`` (after ``isfinite``, no NaN: ``min`` and ``max`` are exact)."""
    if not _types(values, _NUMBER):
        return False
    try:
        finite = all(map(math.isfinite, values))
    except OverflowError:  # an int too large for a float
        return False
    return finite and _within(values, -LIMIT)


def _ints(values: list[Json], least: int = -LIMIT) -> bool:
    return _types(values, _INT) and _within(values, least)


def _within(values: list[Json], least: int) -> bool:
    return not values or (min(values) >= least and max(values) <= LIMIT)


def _bad(value: Json, shape: Shape) -> str | None:
    """What is wrong, as the rest of a sentence whose subject is the path from ``value`` (built only
    on the way back from a problem: the honest log, checked whole, pays for no strings)."""
    if isinstance(shape, Kind):
        return None if shape.test(value) else f" is not {shape.name}"
    if isinstance(shape, Each):
        return _each(value, shape.item)
    if isinstance(shape, Obj):
        return _object(value, shape)
    if not isinstance(value, list) or len(value) != len(shape):
        return f" is not a list of {len(shape)} values"
    for i, (v, s) in enumerate(zip(value, shape, strict=True)):
        bad = (None if s.test(v) else f" is not {s.name}") if isinstance(s, Kind) else _bad(v, s)
        if bad is not None:
            return f"[{i}]{bad}"
    return None


def _each(value: Json, item: Shape) -> str | None:
    if not isinstance(value, list):
        return " is not a list"
    if isinstance(item, Kind):
        test = item.test
        return next((f"[{i}] is not {item.name}" for i, v in enumerate(value) if not test(v)), None)
    for i, v in enumerate(value):
        bad = _bad(v, item)
        if bad is not None:
            return f"[{i}]{bad}"
    return None


def _object(value: Json, shape: Obj) -> str | None:
    if not isinstance(value, dict):
        return " is not an object"
    unknown = sorted(str(k) for k in value if k not in shape.fields)
    if unknown:
        return f" has a field the auditor does not know: {unknown[0]}"
    missing = sorted(shape.required - value.keys())
    if missing:
        return f" lacks {missing[0]}"
    for key, v in value.items():
        bad = _bad(v, shape.fields[key])
        if bad is not None:
            return f".{key}{bad}"
    return None


_LIST = frozenset({list})
_NUMBER = frozenset({int, float})
_INT = frozenset({int})
_COLUMNS: dict[Kind, Callable[[list[Json]], bool]] = {
    TEXT: lambda vs: _types(vs, frozenset({str})),
    TEXT_OR_NULL: lambda vs: _types(vs, frozenset({str, type(None)})),
    NUMBER: _numbers,
    INT: _ints,
    POSITIVE: lambda vs: _ints(vs, 1),
    FLAG: lambda vs: _types(vs, frozenset({bool})),
}  # the leaves a column is checked for at once; another Kind's test runs value by value
