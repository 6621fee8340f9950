"""Queue-ahead layers (scheduler.ahead): ``depth`` layers at most, nothing over-committed in any."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.inventory.model import Facility, Island, Node, Rack, Site
from pnyx.inventory.rules import accelerator_type, generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.ahead import fits, layers, overlapping
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.model import Job, Placement, Running
from pnyx.scheduler.topology import Topology, build_topology

TYPE = "H100-SXM"


def two_nodes(per_node: int = 8) -> Topology:
    site = Site(id="s", name="S", member_state="DE", city="-")
    island = Island(id="i", site_id="s", accelerator_type=TYPE, safety_level=SafetyLevel.L1)
    like = Node(id="", rack_id="r", island_id="i", site_id="s", nvlink_domain="",
                accelerator_type=TYPE, accelerators=per_node, safety_level=SafetyLevel.L1)  # fmt: skip
    nodes = tuple(dataclasses.replace(like, id=n, nvlink_domain=n) for n in ("n1", "n2"))
    racks = (Rack(id="r", island_id="i"),)
    types = (accelerator_type(TYPE),)
    return build_topology(Facility(types=types, sites=(site,), islands=(island,), racks=racks, nodes=nodes))


def held(topology: Topology, job_id: str, node: str, count: int, *, exclusive: bool = False) -> Running:
    index = topology.index_of[node]
    job = Job(id=job_id, accelerators=count, estimate_s=60.0, accelerator_type=TYPE, member="DE", project="p",
              user="u", submit_s=0.0)  # fmt: skip
    placement = Placement(job_id=job_id, accelerator_type=TYPE, node_ids=(node,), counts=(count,),
                          nodes=(index,), pool=topology.node_pool[index], exclusive=exclusive)  # fmt: skip
    return Running(job=job, placement=placement, start_s=0.0, end_s=60.0)


def ids(runs: tuple[Running, ...]) -> list[str]:
    return [r.job.id for r in runs]


def test_waiting_jobs_fill_the_hardware_first_then_the_queue_ahead_then_nothing() -> None:
    t = two_nodes()
    started = [held(t, "a", "n1", 8)]
    waiting = [held(t, "b", "n1", 8), held(t, "c", "n2", 4), held(t, "d", "n1", 8), held(t, "e", "n2", 4)]
    stack = layers(t, started, waiting)
    assert ids(stack.now) == ["a", "c", "e"]
    assert ids(stack.queued) == ["b"]
    assert ids(stack.deeper) == ["d"]


def test_an_exclusive_job_takes_the_whole_node_in_its_layer() -> None:
    t = two_nodes()
    stack = layers(t, [held(t, "x", "n1", 2, exclusive=True)], [held(t, "y", "n1", 1), held(t, "z", "n1", 1)])
    assert ids(stack.now) == ["x"]
    assert ids(stack.queued) == ["y", "z"]


def test_a_started_job_on_full_nodes_is_overlaid_and_holds_nothing() -> None:
    t = two_nodes(per_node=8)
    stack = layers(t, [held(t, "a", "n1", 8), held(t, "b", "n1", 8)], [held(t, "c", "n1", 8)])
    assert ids(stack.now) == ["a"]
    assert ids(stack.overlaid) == ["b"]
    assert ids(stack.queued) == ["c"]
    capacity = Capacity(t)
    for r in stack.now:
        capacity.take(r.placement)
    assert min(capacity.free) >= 0


def test_queued_ahead_jobs_on_a_preempted_jobs_nodes_are_displaced() -> None:
    t = two_nodes()
    victim = held(t, "v", "n1", 8)
    ahead = [held(t, "on-n1", "n1", 8), held(t, "on-n2", "n2", 8)]
    assert ids(tuple(overlapping([victim.placement], ahead))) == ["on-n1"]


SHAPES = st.lists(st.tuples(st.sampled_from(["n1", "n2"]), st.integers(1, 8), st.booleans()), max_size=12)


@given(SHAPES, SHAPES)
def test_no_layer_is_ever_over_committed(
    started_shapes: list[tuple[str, int, bool]], shapes: list[tuple[str, int, bool]]
) -> None:
    t = two_nodes()
    started = [held(t, f"s{i}", n, c, exclusive=x) for i, (n, c, x) in enumerate(started_shapes)]
    waiting = [held(t, f"j{i}", n, c, exclusive=x) for i, (n, c, x) in enumerate(shapes)]
    stack = layers(t, started, waiting)
    for layer in (stack.now, *stack.ahead):
        capacity = Capacity(t)
        for r in layer:
            assert fits(capacity, r.placement)
            capacity.take(r.placement)
    placed = stack.now + stack.overlaid + stack.queued + stack.deeper
    assert sorted(ids(placed)) == sorted(ids(tuple(started + waiting)))


@given(SHAPES, SHAPES, st.integers(1, 4))
def test_any_depth_packs_every_job_once_and_over_commits_no_layer(
    started_shapes: list[tuple[str, int, bool]], shapes: list[tuple[str, int, bool]], depth: int
) -> None:
    t = two_nodes()
    started = [held(t, f"s{i}", n, c, exclusive=x) for i, (n, c, x) in enumerate(started_shapes)]
    waiting = [held(t, f"j{i}", n, c, exclusive=x) for i, (n, c, x) in enumerate(shapes)]
    stack = layers(t, started, waiting, depth)
    assert len(stack.ahead) == depth - 1
    for layer in (stack.now, *stack.ahead):
        capacity = Capacity(t)
        for r in layer:
            assert fits(capacity, r.placement)
            capacity.take(r.placement)
    placed = stack.now + stack.overlaid + stack.queued + stack.deeper
    assert sorted(ids(placed)) == sorted(ids(tuple(started + waiting)))


def test_a_third_layer_takes_what_two_could_not() -> None:
    t = two_nodes()
    waiting = [held(t, f"j{i}", "n1", 8) for i in range(4)]
    stack = layers(t, [], waiting, depth=3)
    assert [ids(stack.now), [ids(layer) for layer in stack.ahead], ids(stack.deeper)] == [
        ["j0"],
        [["j1"], ["j2"]],
        ["j3"],
    ]


_FACILITY_512 = build_topology(generate_facility(512, seed=0))
PLACED = st.lists(
    st.tuples(st.integers(0, 63), st.integers(1, 8), st.booleans(), st.integers(1, 4)), max_size=40
)


@settings(deadline=None)  # two ledgers of a 512-accelerator facility per example, on a shared machine
@given(PLACED, st.lists(st.integers(0, 63), max_size=4))
def test_take_all_ends_as_one_take_after_another(
    shapes: list[tuple[int, int, bool, int]], down: list[int]
) -> None:
    """The one-pass ledger build (``Capacity.take_all``) against the naive one, bucket order included:
    best fit picks the first unit of a bucket, so the order decides placements."""
    t = _FACILITY_512
    placements = []
    for i, (first, count, exclusive, width) in enumerate(shapes):
        nodes = tuple(sorted({(first + k) % len(t.node_cap) for k in range(width)}))
        counts = tuple(min(count, t.node_cap[n]) for n in nodes)
        ids = tuple(t.node_ids[n] for n in nodes)
        placements.append(
            Placement(
                job_id=f"j{i}",
                accelerator_type="x",
                node_ids=ids,
                counts=counts,
                nodes=nodes,
                pool=t.node_pool[nodes[0]],
                exclusive=exclusive,
            )
        )
    naive, fast = Capacity(t), Capacity(t)
    for n in down:
        naive.fail(n)
        fast.fail(n)
    fitting = []
    for p in placements:  # as a snapshot is built: what fits, one after another
        if fits(naive, p):
            naive.take(p)
            fitting.append(p)
    fast.take_all(fitting)
    for name in ("free", "down", "total", "acc", "whole"):
        assert getattr(fast, name) == getattr(naive, name), name
    for name in ("bucket_acc", "bucket_whole"):
        orders = [[[list(b) for b in pool] for pool in level] for level in getattr(fast, name)]
        assert orders == [[[list(b) for b in pool] for pool in level] for level in getattr(naive, name)], name
