"""``fairshare.fold`` inlined (a held span's end decays by exactly 1.0) gives the very floats of the
plain rule kept here (``accrued`` per span, added in order), bit for bit, whatever the spans: held,
ended before or after ``now``, starting after their end or after ``now``, and the history decayed."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.scheduler.fairshare import FORGOTTEN, Span, Usage, decay, fold

_TIME = st.floats(min_value=0.0, max_value=4e7, allow_nan=False)
_SPAN = st.builds(
    Span,
    st.tuples(st.sampled_from(["DE", "FR"]), st.sampled_from(["p1", "p2"]), st.sampled_from(["a", "b"])),
    st.integers(1, 16_384),
    _TIME,
    st.none() | _TIME,
)
_HISTORY = st.dictionaries(
    st.tuples(st.sampled_from(["DE", "FR"]), st.just("p1"), st.just("a")), st.floats(0.0, 1e12), max_size=2
)


def _plain(usage: Usage, spans: list[Span], now: float, half_life_s: float) -> Usage:
    factor = decay(half_life_s, max(0.0, now - usage.at))
    out = {k: v * factor for k, v in usage.by_user.items() if v * factor > FORGOTTEN}
    rate = math.log(2) / half_life_s
    for span in spans:
        end = now if span.end_s is None else min(span.end_s, now)
        start = min(span.start_s, end)
        added = span.accelerators * (decay(half_life_s, now - end) - decay(half_life_s, now - start)) / rate
        if added > 0:
            out[span.key] = out.get(span.key, 0.0) + added
    return Usage(at=now, by_user=out)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(_SPAN, max_size=12),
    _TIME,
    _HISTORY,
    _TIME,
    st.sampled_from([3_600.0, 7 * 86_400.0, 1e-3]) | st.floats(1.0, 1e7),
)
def test_fold_is_the_plain_rule_bit_for_bit(
    spans: list[Span], now: float, history: dict[tuple[str, str, str], float], at: float, half_life_s: float
) -> None:
    usage = Usage(at=at, by_user=history)
    got, want = fold(usage, spans, now, half_life_s), _plain(usage, spans, now, half_life_s)
    assert got.at == want.at
    assert list(got.by_user) == list(want.by_user)
    assert [v.hex() for v in got.by_user.values()] == [v.hex() for v in want.by_user.values()]


def test_a_zero_half_life_raises_and_a_negative_one_remembers_nothing_as_ever() -> None:
    spans = [Span(("DE", "p1", "a"), 8, 0.0, None)]
    with pytest.raises(ZeroDivisionError):
        fold(Usage(), spans, 100.0, 0.0)
    with pytest.raises(ZeroDivisionError):
        _plain(Usage(), spans, 100.0, 0.0)
    history = Usage(at=0.0, by_user={("DE", "p1", "a"): 5.0})
    assert fold(history, spans, 100.0, -1.0) == _plain(history, spans, 100.0, -1.0) == Usage(at=100.0)
