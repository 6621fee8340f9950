"""The carried capacity (``scheduler.carried``) against a build from blank, record after record:
counters, free counts and the order of every bucket (best fit takes a bucket's first unit)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.ahead import layers
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.carried import CarriedCapacity
from pnyx.scheduler.fairshare import spans_of
from pnyx.scheduler.model import Job, Placement, Running
from pnyx.scheduler.topology import Topology, build_topology

_FACILITY = build_topology(generate_facility(512, seed=0))
_BLANK = Capacity(_FACILITY)
SIZE = len(_FACILITY.node_cap)

# a job: (first node, count, exclusive, width, submit time: few values, so that times tie)
JOB = st.tuples(
    st.integers(0, SIZE - 1), st.integers(1, 8), st.booleans(), st.integers(1, 4), st.integers(0, 5)
)
# a record: which of the jobs run (indexes into the jobs, some placed anew), which nodes are down
RECORD = st.tuples(
    st.lists(st.tuples(st.integers(0, 29), st.booleans()), max_size=30),
    st.lists(st.integers(0, SIZE - 1), max_size=4),
)


def running(t: Topology, i: int, shape: tuple[int, int, bool, int, int], again: bool) -> Running:
    first, count, exclusive, width, submit = shape
    nodes = tuple(sorted({(first + k * (2 if again else 1)) % SIZE for k in range(width)}))
    counts = tuple(min(count, t.node_cap[n]) for n in nodes)
    job = Job(id=f"j{i}", accelerators=sum(counts), estimate_s=60.0, accelerator_type=None, member="DE",
              project="p", user="u", submit_s=float(submit))  # fmt: skip
    ids = tuple(t.node_ids[n] for n in nodes)
    placement = Placement(job_id=job.id, accelerator_type="x", node_ids=ids, counts=counts, nodes=nodes,
                          pool=t.node_pool[nodes[0]], exclusive=exclusive)  # fmt: skip
    return Running(job=job, placement=placement, start_s=0.0, end_s=60.0)


def built(runs: list[Running], down: list[int]) -> Capacity | None:
    """As ``build_snapshot`` builds it: the blank copied, down nodes failed in order, then the takes
    (None where over-full nodes leave counts a build cannot bucket: it raises)."""
    capacity = _BLANK.copy()
    for n in sorted(down):
        capacity.fail(n)
    try:
        capacity.take_all(r.placement for r in runs)
    except IndexError:
        return None
    return capacity


def same(a: Capacity, b: Capacity | None) -> None:
    if b is None:
        return
    for name in ("free", "down", "total", "acc", "whole", "held"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("bucket_acc", "bucket_whole"):
        orders = [[[list(b) for b in pool] for pool in level] for level in getattr(a, name)]
        assert orders == [[[list(b) for b in pool] for pool in level] for level in getattr(b, name)], name


@settings(deadline=None, max_examples=40)  # a few ledgers of a 512-accelerator facility per record
@given(st.lists(JOB, min_size=30, max_size=30), st.lists(RECORD, min_size=1, max_size=6))
def test_the_carried_capacity_is_the_one_built_from_blank_record_after_record(
    jobs: list[tuple[int, int, bool, int, int]], records: list[tuple[list[tuple[int, bool]], list[int]]]
) -> None:
    """Jobs come, go and come back placed elsewhere, nodes fail and come back, placements overlap
    (over-full nodes, exclusive over shared): after each record the ledger is a build from blank of
    the running jobs in the usual order, and ``follow`` says True exactly when the queue-ahead
    layers put all of them on the hardware now."""
    t = _FACILITY
    carried = CarriedCapacity(_BLANK)
    for chosen, down in records:
        runs = {f"j{i}": running(t, i, jobs[i], again) for i, again in chosen}
        ordered = sorted(runs.values(), key=lambda r: (r.job.submit_s, r.job.id))
        fitting = carried.follow(ordered, down)
        same(carried.capacity, built(ordered, down))
        stack = layers(t, ordered, [], blank=_BLANK)
        assert fitting == (list(stack.now) == ordered and not stack.overlaid)
        assert carried.spans(ordered) == spans_of(ordered)
        if fitting:  # a cycle is given the carried capacity only then (over-full nodes break counters)
            tried(carried, [n for first, count, *_ in jobs[:8] for n in (first, (first * count) % SIZE)])
            same(carried.capacity, built(ordered, down))


def tried(carried: CarriedCapacity, nodes: list[int]) -> None:
    """A cycle's trial work on the carried capacity itself: changes under the journal, rolled back,
    then the buckets put back in order."""
    capacity = carried.capacity
    capacity.begin()
    for i, n in enumerate(nodes):
        capacity.set_free(n, (capacity.free[n] + i) % (capacity.topology.node_cap[n] + 1))
    capacity.rollback()
    carried.reorder()


@settings(deadline=None, max_examples=20)
@given(st.lists(JOB, min_size=30, max_size=30), st.lists(RECORD, min_size=2, max_size=4))
def test_out_of_order_jobs_are_refused_and_the_next_record_is_still_right(
    jobs: list[tuple[int, int, bool, int, int]], records: list[tuple[list[tuple[int, bool]], list[int]]]
) -> None:
    """Running jobs in another order than the usual one: ``follow`` says False (a build would meet
    their changes in another order), and still keeps the ledger of the usual order."""
    t = _FACILITY
    carried = CarriedCapacity(_BLANK)
    for chosen, down in records:
        runs = {f"j{i}": running(t, i, jobs[i], again) for i, again in chosen}
        ordered = sorted(runs.values(), key=lambda r: (r.job.submit_s, r.job.id))
        assert not carried.follow(ordered[::-1], down) or len(ordered) < 2
        same(carried.capacity, built(ordered, down))


def test_a_node_time_or_twice_run_job_a_build_cannot_read_leaves_the_ledger_as_it_was() -> None:
    t = _FACILITY
    carried = CarriedCapacity(_BLANK)
    first = [running(t, 0, (0, 2, False, 2, 0), False)]
    assert carried.follow(first, [])
    assert not carried.follow(first, [SIZE])
    assert not carried.follow(first, [-1])
    same(carried.capacity, built(first, []))
    late = running(t, 1, (3, 2, False, 1, 1), False)
    nan = Running(job=Job(id="j2", accelerators=1, estimate_s=1.0, accelerator_type=None, member="DE",
                          project="p", user="u", submit_s=float("nan")),
                  placement=late.placement, start_s=0.0, end_s=1.0)  # fmt: skip
    assert not carried.follow([*first, nan], [])
    same(carried.capacity, built(first, []))
    assert not carried.follow([*first, first[0]], [])  # one job twice: a build keeps one of them
    same(carried.capacity, built(first, []))
