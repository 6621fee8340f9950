"""Numbers in rule files and effects are checked as text: what passes is cheap to compute with."""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.errors import InvalidInput
from pnyx.governance.numbers import plain_number


@pytest.mark.parametrize("value", ["2/3", " 1/3 ", "0.25", "1E+25", "1e-05", ".5", "-1", 7, 0.1, 1e300])
def test_plainly_written_numbers_pass(value: object) -> None:
    text = plain_number(value, "f", expected="a number")
    assert Fraction(text) == Fraction(str(value).strip())


@pytest.mark.parametrize(
    "value",
    [
        "1e-100000000",
        "1e1000",
        "NaN",
        "inf",
        "Infinity",
        "1_000",
        "٣",
        "1/2/3",
        "",
        "x",
        None,
        True,
        [1],
        10**60,
    ],
)
def test_anything_else_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        plain_number(value, "effect.sme", expected="a number")
    assert info.value.field == "effect.sme"


@given(st.text(alphabet="0123456789eE+-./ ", max_size=80))
def test_whatever_passes_converts_at_once(text: str) -> None:
    try:
        plain = plain_number(text, "f", expected="a number")
    except InvalidInput:
        return
    started = time.perf_counter()
    try:
        Fraction(plain)
        Decimal(plain)
    except (ValueError, ZeroDivisionError, ArithmeticError):
        pass
    assert time.perf_counter() - started < 0.5
