"""The field types an event may carry, as the event catalogue spells them, and example values.

A log entry's data is JSON, so an event field holds only what ``DomainEvent.payload`` encodes:
str, int, float, bool, None, ``datetime`` (RFC 3339 UTC), an enum (its value), tuples and lists of
those, and dicts with string keys. Any other type is one a reader of ``docs/events.md`` cannot
find, and spelling it raises.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pnyx.core.errors import InvalidInput

EXAMPLE_TIME = datetime(2025, 1, 1, tzinfo=UTC)

SCALARS: dict[object, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    type(None): "None",
    datetime: "datetime",
    Any: "Any",
}

# How each spelling reads in JSON (the catalogue's table of types).
JSON_FORMS = (
    ("str", "a JSON string"),
    ("int", "a JSON integer"),
    ("float", "a JSON number"),
    ("bool", "`true` or `false`"),
    ("None", "`null`"),
    ("datetime", 'a string, RFC 3339 in UTC with microseconds and `Z`: `"2025-01-01T00:00:00.000000Z"`'),
    ('"a" \\| "b"', "an enumeration: one of the strings shown"),
    ("tuple[X, ...], list[X]", "a JSON array of X"),
    ("dict[str, X]", "a JSON object whose values are X"),
    ("Any", "any JSON value"),
)


class UncataloguedType(InvalidInput):
    """An event field's type is not one the catalogue explains (see ``SCALARS`` and the containers)."""

    code = "event_field_type"


def spell(tp: Any, where: str) -> str:
    """The type as the catalogue writes it; raises ``UncataloguedType`` for one it cannot explain."""
    if tp in SCALARS:
        return SCALARS[tp]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return " | ".join(f'"{member.value}"' for member in tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(spell(arg, where) for arg in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"tuple[{spell(args[0], where)}, ...]"
    if origin in (tuple, list) and args:
        return f"{origin.__name__}[{', '.join(spell(arg, where) for arg in args)}]"
    if origin is dict and len(args) == 2 and args[0] is str:
        return f"dict[str, {spell(args[1], where)}]"
    raise UncataloguedType(f"{where}: the catalogue cannot explain the type {tp!r}", field=where)


def example(tp: Any, name: str) -> Any:
    """A placeholder value of the type (``spell`` has already accepted it)."""
    if tp is str or tp is Any:
        return f"<{name}>"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return next(iter(tp))
    if tp in (bool, int, float, datetime):
        return {bool: True, int: 1, float: 0.5, datetime: EXAMPLE_TIME}[tp]
    return _example_container(tp, name)


def _example_container(tp: Any, name: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        return example(next(arg for arg in args if arg is not type(None)), name)
    if origin is tuple:
        return tuple(example(arg, name) for arg in args if arg is not Ellipsis)
    if origin is list:
        return [example(args[0], name)]
    if origin is dict:
        return {"<key>": example(args[1], name)}
    return None
