"""``Capacity.hold`` against the per-level reference it replaced (every level summed from the nodes):
the same counters and the same units in every bucket, in the same order (best fit takes a bucket's
first unit, so a reservation's hold decides where later jobs go)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.topology import FACILITY, INDEXED_LEVELS, build_topology

_TOPOLOGY = build_topology(generate_facility(2048, seed=1))
SIZE = len(_TOPOLOGY.node_cap)


def held_node_by_level(capacity: Capacity, nodes: tuple[int, ...]) -> None:
    """The reference: each level's moves summed from the nodes, units in the order of their first node."""
    t = capacity.topology
    free, caps = capacity.free, t.node_cap
    capacity.held.update(nodes)
    changed = [(n, free[n]) for n in nodes if free[n]]
    for n, old in changed:
        free[n] = 0
        capacity.total -= old
    for lv in range(FACILITY + 1):
        d_acc: dict[int, int] = {}
        d_whole: dict[int, int] = {}
        for n, old in changed:
            u = t.node_unit[lv][n]
            d_acc[u] = d_acc.get(u, 0) + old
            if old == caps[n]:
                d_whole[u] = d_whole.get(u, 0) + 1
        for counts, buckets, moves in ((capacity.acc, capacity.bucket_acc, d_acc),
                                       (capacity.whole, capacity.bucket_whole, d_whole)):  # fmt: skip
            for u, d in moves.items():
                c0 = counts[lv][u]
                counts[lv][u] = c0 - d
                if lv in INDEXED_LEVELS:
                    by_count = buckets[lv][t.unit_pool[lv][u]]
                    del by_count[c0][u]
                    if c0 - d:
                        by_count[c0 - d][u] = None


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.tuples(st.integers(0, SIZE - 1), st.integers(0, 8)), max_size=60),
    st.lists(st.integers(0, SIZE - 1), max_size=120, unique=True),  # a reservation names a node once
)
def test_hold_ends_as_the_reference_bucket_order_included(
    before: list[tuple[int, int]], nodes: list[int]
) -> None:
    fast = Capacity(_TOPOLOGY)
    for n, value in before:
        fast.set_free(n, min(value, _TOPOLOGY.node_cap[n]))
    reference, start = fast.copy(), fast.copy()
    fast.begin()
    fast.hold(tuple(nodes))
    held_node_by_level(reference, tuple(nodes))
    for name in ("free", "total", "acc", "whole", "held"):
        assert getattr(fast, name) == getattr(reference, name), name
    for name in ("bucket_acc", "bucket_whole"):
        orders = [[[list(b) for b in pool] for pool in level] for level in getattr(fast, name)]
        assert orders == [[[list(b) for b in pool] for pool in level] for level in getattr(reference, name)]
    fast.rollback()  # a cycle's hold on its ledger is undone with the rest of its trial work
    assert (fast.free, fast.acc, fast.whole) == (start.free, start.acc, start.whole)
