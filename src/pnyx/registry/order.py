"""The data order: which samples go into which rank's batch at which optimizer step (pure, stdlib only).

A dataset version is a sequence of shards, each holding ``sizes[i]`` samples. Training reads it as
an endless stream of epochs; epoch ``e`` visits the shards in ``shard_order(len(sizes), seed, e)``
and each shard's samples in their stored order. Global position ``p`` of the stream goes to step
``p // (world_size * batch_size)``, rank ``(p // batch_size) % world_size``. So the order is a pure
function of (the version's shard sizes, seed, world size, batch size, step): a resumed run reads what
an uninterrupted run would have read, and anyone holding the manifest can recompute the record.

The training recipe writes ``order_line`` for every (step, rank) to ``data-order.jsonl``; the
registry checks a submitted record against ``step_ranges`` (``check_record``) before it accepts it.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from pnyx.core.errors import InvalidInput


@dataclass(frozen=True, slots=True, order=True)
class SampleRange:
    """Samples ``[start, stop)`` of shard number ``shard`` (its index in the version's manifest)."""

    shard: int
    start: int
    stop: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSpec:
    """What fixes a run's data order."""

    sizes: tuple[int, ...]  # samples per shard, in the manifest's order
    seed: int
    world_size: int
    batch_size: int  # samples per rank per step

    def __post_init__(self) -> None:
        _positive(self.world_size, "world_size")
        _positive(self.batch_size, "batch_size")
        if not self.sizes or any(n <= 0 for n in self.sizes):
            raise InvalidInput("a data order needs at least one shard, each with samples", field="sizes")
        if self.seed < 0:
            raise InvalidInput(f"seed must be 0 or more, got {self.seed}", field="seed")


@lru_cache(maxsize=64)
def shard_order(shards: int, seed: int, epoch: int) -> tuple[int, ...]:
    """Epoch ``epoch``'s permutation of shard numbers: sorted by SHA-256 of (seed, epoch, shard)."""
    return tuple(sorted(range(shards), key=lambda i: hashlib.sha256(f"{seed}:{epoch}:{i}".encode()).digest()))


def rank_ranges(spec: OrderSpec, step: int, rank: int) -> tuple[SampleRange, ...]:
    """The samples rank ``rank`` reads at optimizer step ``step``, as contiguous ranges in read order."""
    _at_least_zero(step, "step")
    if not 0 <= rank < spec.world_size:
        raise InvalidInput(f"rank must be in 0..{spec.world_size - 1}, got {rank}", field="rank")
    first = (step * spec.world_size + rank) * spec.batch_size
    return tuple(_span(spec, first, first + spec.batch_size))


def step_ranges(spec: OrderSpec, step: int) -> tuple[tuple[SampleRange, ...], ...]:
    """Every rank's ranges at ``step`` (index = rank)."""
    return tuple(rank_ranges(spec, step, rank) for rank in range(spec.world_size))


def order_line(step: int, rank: int, ranges: Sequence[SampleRange]) -> str:
    """One line of ``data-order.jsonl`` (canonical: sorted keys, no spaces)."""
    record = {"rank": rank, "ranges": [[r.shard, r.start, r.stop] for r in ranges], "step": step}
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def parse_line(line: str, number: int) -> tuple[int, int, tuple[SampleRange, ...]]:
    """(step, rank, ranges) from one record line; ``number`` (1-based) names the line in errors."""
    try:
        found = json.loads(line)
        ranges = tuple(SampleRange(int(s), int(a), int(b)) for s, a, b in found["ranges"])
        return int(found["step"]), int(found["rank"]), ranges
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
        raise InvalidInput(f"data-order line {number} is not a record: {exc}", field="data_order") from exc


def check_record(spec: OrderSpec, lines: Iterable[str], steps: int) -> int:
    """Check a ``data-order.jsonl`` against the pure order: exactly steps 0..steps-1, every rank once,
    in order, each line byte for byte the ``order_line`` of ``rank_ranges`` (no blank lines, no extra
    keys, no other spelling of a number). Returns the number of lines checked."""
    expected = ((s, r) for s in range(steps) for r in range(spec.world_size))
    count = 0
    for number, line in enumerate(lines, start=1):
        step, rank, _ranges = parse_line(line, number)
        want = next(expected, None)
        if want != (step, rank) or line.rstrip("\n") != order_line(step, rank, rank_ranges(spec, step, rank)):
            raise InvalidInput(
                f"data-order line {number} (step {step}, rank {rank}) differs from the order the "
                f"dataset version, seed and world size give (expected step/rank {want})",
                field="data_order",
            )
        count += 1
    if next(expected, None) is not None:
        raise InvalidInput(f"data-order record stops after {count} lines of {steps * spec.world_size}",
                           field="data_order")  # fmt: skip
    return count


def _span(spec: OrderSpec, first: int, stop: int) -> Iterator[SampleRange]:
    total = sum(spec.sizes)
    position = first
    while position < stop:
        epoch, offset = divmod(position, total)
        order, ends = _epoch(spec.sizes, spec.seed, epoch)
        slot = bisect_right(ends, offset)
        shard_start = ends[slot] - spec.sizes[order[slot]]
        take = min(stop - position, ends[slot] - offset)
        yield SampleRange(order[slot], offset - shard_start, offset - shard_start + take)
        position += take


@lru_cache(maxsize=64)
def _epoch(sizes: tuple[int, ...], seed: int, epoch: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The epoch's shard order and the running sample count at the end of each shard in it."""
    order = shard_order(len(sizes), seed, epoch)
    return order, tuple(accumulate(sizes[i] for i in order))


def _positive(value: int, name: str) -> None:
    if value <= 0:
        raise InvalidInput(f"{name} must be positive, got {value}", field=name)


def _at_least_zero(value: int, name: str) -> None:
    if value < 0:
        raise InvalidInput(f"{name} must be 0 or more, got {value}", field=name)
