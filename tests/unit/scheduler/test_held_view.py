"""``HeldView`` answers as the copy it stands for: after any sequence of reservations, starts and
preemptions on the ledger, its ``fits`` and ``free_in`` equal those of the ledger copied then with
every held node held (``Capacity.hold``), before its copy is built and after (the built copy then
changed with the ledger keeps the same counters as a copy built afresh)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.held import HeldView
from pnyx.scheduler.model import Placement
from pnyx.scheduler.topology import FACILITY, build_topology

_TOPOLOGY = build_topology(generate_facility(2048, seed=1))
SIZE = len(_TOPOLOGY.node_cap)
POOLS = len(_TOPOLOGY.pools)

WINDOW = 48  # the steps' nodes are drawn from a few dozen, so that reservations and gangs meet
nodes_st = st.lists(st.integers(0, WINDOW - 1), min_size=1, max_size=12, unique=True)
step_st = st.one_of(
    st.tuples(st.just("hold"), nodes_st, st.booleans()),
    st.tuples(st.just("take"), nodes_st, st.booleans()),
    st.tuples(st.just("give"), nodes_st, st.booleans()),
    st.tuples(st.just("build"), st.just([0]), st.just(False)),
)
pools_st = st.lists(st.integers(0, POOLS - 1), min_size=1, max_size=POOLS, unique=True)


def _placement(ledger: Capacity, nodes: list[int], exclusive: bool) -> Placement | None:
    """A gang the ledger can take: on wholly free nodes if exclusive, else half of each one's free."""
    free, caps = ledger.free, _TOPOLOGY.node_cap
    nodes = [n for n in nodes if (free[n] == caps[n] if exclusive else free[n]) and caps[n]]
    if not nodes:
        return None
    counts = tuple(caps[n] if exclusive else max(1, free[n] // 2) for n in nodes)
    return Placement(
        job_id="j",
        accelerator_type="x",
        node_ids=tuple(str(n) for n in nodes),
        counts=counts,
        nodes=tuple(nodes),
        pool=_TOPOLOGY.node_pool[nodes[0]],
        exclusive=exclusive,
    )


def _reference(ledger: Capacity, view: HeldView) -> Capacity:
    copy = ledger.copy()
    copy.hold(tuple(view.order))
    return copy


def _same_answers(ledger: Capacity, view: HeldView, pools: tuple[int, ...]) -> None:
    reference = _reference(ledger, view)
    for asked in (pools, tuple(range(POOLS))):
        assert view.free_in(asked) == reference.free_in(asked)
        whole = sum(
            reference.whole[FACILITY][u[0]] * p.per_node
            for u, p in zip(_TOPOLOGY.pool_units[FACILITY], _TOPOLOGY.pools, strict=True)
            if p.index in asked
        )
        for exclusive in (False, True):
            for need in {1, 8, reference.free_in(asked), reference.free_in(asked) + 1, whole, whole + 1}:
                assert view.fits(asked, need, exclusive) == reference.fits_somewhere(asked, need, exclusive)
    if view.built is not None:
        for name in ("free", "total", "acc", "whole"):
            assert getattr(view.built, name) == getattr(reference, name), name


@settings(deadline=None, max_examples=150)
@given(
    st.lists(st.tuples(st.integers(0, SIZE - 1), st.integers(0, 8)), max_size=40),
    st.lists(st.tuples(step_st, pools_st), max_size=25),
)
def test_the_view_answers_as_the_held_copy(
    before: list[tuple[int, int]], steps: list[tuple[tuple[str, list[int], bool], list[int]]]
) -> None:
    ledger = Capacity(_TOPOLOGY)
    for n, value in before:
        ledger.set_free(n, min(value, _TOPOLOGY.node_cap[n]))
    view = HeldView(ledger)
    taken: list[Placement] = []
    for (op, nodes, exclusive), pools in steps:
        if op == "hold":
            view.hold(tuple(n for n in nodes if n not in view.nodes))  # a node is reserved once
        elif op == "build":
            view.capacity()
        elif op == "take" and (placement := _placement(ledger, nodes, exclusive)) is not None:
            ledger.take(placement)  # a start: on the ledger and the view
            view.took(placement)
            taken.append(placement)
        elif op == "give" and taken:  # a preemption: given back on the ledger and the built view
            placement = taken.pop(nodes[0] % len(taken))
            for target in [ledger] if view.built is None else [ledger, view.built]:
                target.give(placement)
            view.changed(placement.nodes)
        _same_answers(ledger, view, tuple(pools))


def test_a_cycle_without_a_look_at_its_buckets_builds_no_copy() -> None:
    ledger = Capacity(_TOPOLOGY)
    view = HeldView(ledger)
    view.hold((0, 1, 2))
    everything = tuple(range(POOLS))
    assert view.free_in(everything) == ledger.free_in(everything) - sum(ledger.free[n] for n in (0, 1, 2))
    assert not view.fits(everything, ledger.free_in(everything), exclusive=False)
    assert view.built is None
    assert view.capacity().held == {0, 1, 2}
