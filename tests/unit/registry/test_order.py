"""The data order: a pure function of (shard sizes, seed, world size, batch size, step)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.core.errors import InvalidInput
from pnyx.registry.order import (
    OrderSpec,
    SampleRange,
    check_record,
    order_line,
    parse_line,
    rank_ranges,
    shard_order,
    step_ranges,
)

specs = st.builds(
    OrderSpec,
    sizes=st.lists(st.integers(1, 9), min_size=1, max_size=6).map(tuple),
    seed=st.integers(0, 2**32),
    world_size=st.integers(1, 4),
    batch_size=st.integers(1, 7),
)


def samples_of(ranges: tuple[SampleRange, ...]) -> list[tuple[int, int]]:
    return [(r.shard, i) for r in ranges for i in range(r.start, r.stop)]


def record(spec: OrderSpec, steps: int) -> list[str]:
    return [order_line(s, r, rank_ranges(spec, s, r)) for s in range(steps) for r in range(spec.world_size)]


@given(specs)
@settings(max_examples=200, deadline=None)
def test_every_sample_of_an_epoch_is_read_once_by_exactly_one_rank(spec: OrderSpec) -> None:
    total = sum(spec.sizes)
    per_step = spec.world_size * spec.batch_size
    steps = -(-total // per_step)
    read = [
        sample for step in range(steps) for ranges in step_ranges(spec, step) for sample in samples_of(ranges)
    ][:total]
    assert Counter(read) == Counter((shard, i) for shard, n in enumerate(spec.sizes) for i in range(n))


@given(specs, st.integers(0, 50))
@settings(max_examples=200, deadline=None)
def test_each_rank_reads_its_batch_size_in_ranges_within_shards(spec: OrderSpec, step: int) -> None:
    for ranges in step_ranges(spec, step):
        assert sum(r.stop - r.start for r in ranges) == spec.batch_size
        assert all(0 <= r.start < r.stop <= spec.sizes[r.shard] for r in ranges)


@given(specs, st.integers(0, 50))
def test_the_order_is_a_function_of_its_inputs_alone(spec: OrderSpec, step: int) -> None:
    again = OrderSpec(
        sizes=spec.sizes, seed=spec.seed, world_size=spec.world_size, batch_size=spec.batch_size
    )
    assert step_ranges(spec, step) == step_ranges(again, step)


def test_epochs_visit_the_shards_in_different_orders_and_seeds_differ() -> None:
    orders = {shard_order(8, 7, epoch) for epoch in range(6)}
    assert len(orders) > 1
    assert all(sorted(o) == list(range(8)) for o in orders)
    assert shard_order(8, 7, 0) != shard_order(8, 8, 0)


def test_a_known_order_stays_the_same() -> None:
    """Pinned: a change to the order would make every recorded data-order record wrong."""
    spec = OrderSpec(sizes=(3, 5, 2), seed=1, world_size=2, batch_size=4)
    assert step_ranges(spec, 1) == (
        (SampleRange(2, 0, 2), SampleRange(0, 0, 2)),
        (SampleRange(0, 2, 3), SampleRange(2, 0, 2), SampleRange(1, 0, 1)),
    )


def test_a_record_round_trips_and_is_checked() -> None:
    spec = OrderSpec(sizes=(4, 4), seed=3, world_size=2, batch_size=3)
    lines = record(spec, 5)
    assert check_record(spec, lines, 5) == 10
    step, rank, ranges = parse_line(lines[3], 4)
    assert (step, rank, ranges) == (1, 1, rank_ranges(spec, 1, 1))


def test_a_record_that_differs_from_the_order_is_refused_naming_the_line() -> None:
    spec = OrderSpec(sizes=(4, 4), seed=3, world_size=2, batch_size=3)
    lines = record(spec, 3)
    lines[2] = order_line(1, 0, (SampleRange(0, 0, 3),))
    with pytest.raises(InvalidInput, match="line 3") as caught:
        check_record(spec, lines, 3)
    assert caught.value.field == "data_order"


def test_a_short_or_reordered_record_is_refused() -> None:
    spec = OrderSpec(sizes=(5,), seed=0, world_size=2, batch_size=2)
    lines = record(spec, 2)
    with pytest.raises(InvalidInput, match="stops after 3 lines of 4"):
        check_record(spec, lines[:3], 2)
    with pytest.raises(InvalidInput, match="line 1"):
        check_record(spec, [lines[1], lines[0], *lines[2:]], 2)


@pytest.mark.parametrize("line", ["not json", '{"step": 0}', '{"step": 0, "rank": 0, "ranges": [[1, 2]]}'])
def test_a_malformed_line_is_refused(line: str) -> None:
    with pytest.raises(InvalidInput, match="line 7 is not a record"):
        parse_line(line, 7)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"world_size": 0}, "world_size"),
        ({"batch_size": -1}, "batch_size"),
        ({"sizes": ()}, "sizes"),
        ({"sizes": (3, 0)}, "sizes"),
        ({"seed": -1}, "seed"),
    ],
)
def test_a_bad_spec_names_its_field(change: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"sizes": (2,), "seed": 0, "world_size": 1, "batch_size": 1, **change}
    with pytest.raises(InvalidInput) as caught:
        OrderSpec(**values)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_rank_outside_the_world_or_a_negative_step_is_refused() -> None:
    spec = OrderSpec(sizes=(2,), seed=0, world_size=2, batch_size=1)
    with pytest.raises(InvalidInput, match=r"rank must be in 0\.\.1"):
        rank_ranges(spec, 0, 2)
    with pytest.raises(InvalidInput, match="step must be 0 or more"):
        rank_ranges(spec, -1, 0)


@pytest.mark.parametrize(
    "spoof",
    [
        '{"ranges":[[0,0,2]],"rank":0,"step":"0"}',  # a string for a number
        '{"ranges":[[0,0,2]],"rank":false,"step":0}',  # a boolean for a number
        '{"ranges":[[0,0.0,2]],"rank":0,"step":0}',  # a float for a number
        '{"note":"anything at all","ranges":[[0,0,2]],"rank":0,"step":0}',  # an extra key
        '{"ranges": [[0, 0, 2]], "rank": 0, "step": 0}',  # another spelling
    ],
)
def test_a_record_is_checked_byte_for_byte_not_by_meaning(spoof: str) -> None:
    spec = OrderSpec(sizes=(4,), seed=0, world_size=1, batch_size=2)
    assert order_line(0, 0, rank_ranges(spec, 0, 0)) == '{"ranges":[[0,0,2]],"rank":0,"step":0}'
    with pytest.raises(InvalidInput, match="line 1"):
        check_record(spec, [spoof, order_line(1, 0, rank_ranges(spec, 1, 0))], 2)


def test_blank_lines_and_overflowing_numbers_are_refused() -> None:
    spec = OrderSpec(sizes=(4,), seed=0, world_size=1, batch_size=2)
    good = [order_line(s, 0, rank_ranges(spec, s, 0)) for s in range(2)]
    with pytest.raises(InvalidInput, match="line 2"):
        check_record(spec, [good[0], "", good[1]], 2)
    with pytest.raises(InvalidInput, match="line 1 is not a record"):
        parse_line('{"ranges":[[0,0,2]],"rank":0,"step":1e400}', 1)
    with pytest.raises(InvalidInput, match="line 1 is not a record"):
        parse_line("[" * 5000 + "]" * 5000, 1)
