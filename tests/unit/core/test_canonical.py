"""Canonical JSON against ``rfc8785`` itself: the same bytes, or the same error, for every value
(Hypothesis), and RFC 8785's own examples.

``canonical_json`` hands the C encoder (``json``) what it proves it writes as RFC 8785 does and
everything else to ``rfc8785``; the plain version kept here is ``rfc8785.dumps`` alone."""

from __future__ import annotations

import enum
import struct
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.core.canonical import canonical_json

SAFE = 2**53 - 1


def outcome(encode: Any, value: Any) -> tuple[str, Any]:
    """The bytes, or the type of the error (and its message: the callers show it)."""
    try:
        return "bytes", bytes(encode(value))
    except Exception as exc:  # any error: it must be the same one
        return type(exc).__name__, str(exc)


def same(value: Any) -> None:
    assert outcome(canonical_json, value) == outcome(rfc8785.dumps, value)


characters = st.characters(codec=None, exclude_categories=())  # surrogates, controls, astral, all
texts = st.text(characters, max_size=8) | st.sampled_from(["", "a.0", "\ue000", "\U0001f600", "\ud800"])
integers = st.integers(-SAFE - 2, SAFE + 2) | st.sampled_from([-SAFE - 1, -SAFE, SAFE, SAFE + 1, 2**64])
floats = (
    st.floats()  # NaN, infinities, -0.0, subnormals, huge
    | st.integers(-(2**54), 2**54).map(float)
    | st.floats(min_value=1e-5, max_value=1e-3)
    | st.floats(min_value=1e15, max_value=1e17)
    | st.sampled_from([1e-4, 1e16, 2.0**53, -(2.0**53), float(SAFE), 1e21, 0.1, -0.0])
)
scalars = st.none() | st.booleans() | integers | floats | texts
keys = texts | st.sampled_from(["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"])
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=5)
        | st.dictionaries(st.integers(0, 3) | st.none(), inner, min_size=1, max_size=2)
    ),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(values)
def test_the_bytes_or_the_error_of_rfc8785(value: Any) -> None:
    same(value)


@settings(max_examples=500, deadline=None)
@given(floats)
def test_every_float_as_rfc8785_writes_it(value: float) -> None:
    same(value)
    same([value, {"x": -value}])


@given(st.integers(0, 52), st.integers(-3, 3))
def test_integral_floats_near_powers_of_two(power: int, offset: int) -> None:
    for n in (2**power + offset, -(2**power) - offset, 10 ** min(power, 16) + offset):
        same(float(n))


def test_the_float_range_edges() -> None:
    for value in (1e-4, 1e-4 * (1 - 2**-52), 0.0001000000000000001, 1e16, 9999999999999998.0, 2.0**53 - 1):
        same(value)
        same(-value)


@pytest.mark.parametrize(
    ("ieee", "expected"),
    [  # RFC 8785 appendix B, number serialization samples
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ],
)
def test_rfc8785_number_samples(ieee: str, expected: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(ieee))[0]
    assert canonical_json(value) == canonical_json([value])[1:-1] == expected.encode()


def test_rfc8785_examples() -> None:
    """Section 3.2.2's serialization example and section 3.2.3's sorting example."""
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    assert canonical_json(value) == (
        b'{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        b'"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    names = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    order = '{"\\r":2,"1":4,"\u0080":6,"\u00f6":7,"\u20ac":1,"\U0001f600":5,"\ufb33":3}'
    assert canonical_json(names) == order.encode()


class Level(enum.IntEnum):
    LOW = 1


class Colour(enum.StrEnum):
    RED = "red"


class Ratio(float):
    pass


class Bag(dict[str, Any]):
    pass


@pytest.mark.parametrize(
    "value",
    [
        Level.LOW,
        {"level": Level.LOW, "colour": Colour.RED},
        Ratio(2.0),
        Bag(b=1, a=2),
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        [Decimal("1.5")],
        {1: "int key"},
        {"a": 1, None: 2},
        {True: 1},
        {"ok": b"bytes"},
        {"big": 2**53},
        "\ud800",
        {"\udfff": 1},
        {"x": float("nan")},
        [float("-inf")],
        {1.5: 1},
        {frozenset(): 1},
    ],
)
def test_subclasses_and_refused_values_as_rfc8785(value: Any) -> None:
    same(value)


def test_a_cycle_fails_as_in_rfc8785() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(RecursionError):
        canonical_json(loop)


def test_refusals_stay_value_errors() -> None:
    for value in ({"x": float("nan")}, [2**60], {1: 1}, "\ud800", {"when": datetime(2026, 1, 1, tzinfo=UTC)}):
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_json(value)
