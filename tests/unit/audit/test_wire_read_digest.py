"""``wire.read_digest`` (the replay's digest of a record as read) against ``wire.digest`` (the
writer's): one value, one digest, whatever floats and strings it holds."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pnyx.audit.wire import Json, digest, read_digest

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**53), 2**53).map(float)  # integral floats, written "...0" by json.dumps
    | st.text(alphabet="0.,]}e-x", max_size=6)  # strings that look like the end of a float
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
)


@given(VALUES)
def test_read_digest_is_the_writers_digest(value: Json) -> None:
    assert read_digest(value) == digest(value)


@given(VALUES)
def test_read_digest_of_a_value_read_back_is_the_digest_of_the_value_written(value: Json) -> None:
    assert read_digest(json.loads(json.dumps(value))) == digest(value)


def test_an_integral_float_at_the_end_of_an_object_or_list_or_alone_is_made_an_integer() -> None:
    pairs = [
        ({"a": 3.0}, {"a": 3}),
        ([1.5, 3.0], [1.5, 3]),
        (3.0, 3),
        ({"a": [0.05, -0.0]}, {"a": [0.05, 0]}),
    ]
    for value, written in pairs:
        assert read_digest(value) == read_digest(written) == digest(value)
