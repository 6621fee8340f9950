"""The reservation replay (``backfill.first_fit_after``) against a plain reference kept here: every
level counted after every release, the units around its nodes looked at, the gang placed by sorting
fragments. Same release, same nodes, same counts, on ledgers with held, down and shared nodes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.inventory.rules import generate_facility
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.backfill import first_fit_after
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.model import Job, Placement
from pnyx.scheduler.placement import gang_nodes, place_in
from pnyx.scheduler.topology import FACILITY, SITE, Topology, build_topology

_FACILITY = build_topology(generate_facility(4096, seed=0))
_BLANK = Capacity(_FACILITY)
SIZE = len(_FACILITY.node_cap)


def reference(
    capacity: Capacity, job: Job, pools: tuple[int, ...], releases: Sequence[Placement]
) -> tuple[int, Placement] | None:
    """The replay as first written: private counters of every level, each release's units checked."""
    t = capacity.topology
    exclusive = job.exclusive
    want = {p: gang_nodes(capacity, p, job.accelerators) if exclusive else job.accelerators for p in pools}
    limits = t.pool_max_nodes if exclusive else t.pool_max_cap
    top = FACILITY if job.allow_cross_site else SITE
    levels = [lv for lv in range(top + 1) if any(want[p] <= limits[lv][p] for p in pools)]
    counts = {lv: (capacity.whole if exclusive else capacity.acc)[lv][:] for lv in levels}
    free = capacity.free[:]
    caps, down, held = t.node_cap, capacity.down, capacity.held
    for index, placement in enumerate(releases):
        if placement.pool not in want:
            continue
        for n, c in zip(placement.nodes, placement.counts, strict=True):
            if down[n] or n in held:
                continue
            old = free[n]
            new = caps[n] if placement.exclusive else old + c
            free[n] = new
            delta = ((new == caps[n]) - (old == caps[n])) if exclusive else new - old
            if delta:
                for lv in levels:
                    counts[lv][t.node_unit[lv][n]] += delta
        for level, level_counts in counts.items():
            best: int | None = None
            for n in placement.nodes:
                u = t.node_unit[level][n]
                need = want.get(t.unit_pool[level][u])
                if need is None or level_counts[u] < need:
                    continue
                if best is None or level_counts[u] < level_counts[best]:
                    best = u
            if best is not None:
                return index, placed(t, free, job, t.unit_pool[level][best], t.unit_nodes[level][best])
    return None


def placed(t: Topology, free: list[int], job: Job, pool: int, nodes: Sequence[int]) -> Placement:
    """The gang in one unit: whole nodes in order; shared gangs then the sorted fragments."""
    need = job.accelerators
    taken: list[tuple[int, int]] = []
    if job.exclusive:
        per = t.pools[pool].per_node
        for n in nodes:
            if need > 0 and free[n] == t.node_cap[n]:
                taken.append((n, min(per, need)))
                need -= per
    else:
        taken = shared(free, t.node_cap, nodes, need)
    return Placement(job_id=job.id, accelerator_type=t.pools[pool].accelerator_type,
                     node_ids=tuple(t.node_ids[n] for n, _ in taken), counts=tuple(c for _, c in taken),
                     nodes=tuple(n for n, _ in taken), pool=pool, exclusive=job.exclusive)  # fmt: skip


def shared(
    free: Sequence[int], caps: Sequence[int], nodes: Sequence[int], need: int
) -> list[tuple[int, int]]:
    """Whole nodes while the rest needs one, then fragments largest first, the last the tightest."""
    taken: list[tuple[int, int]] = []
    used: set[int] = set()
    for n in nodes:
        if need >= caps[n] and free[n] == caps[n]:
            taken.append((n, caps[n]))
            used.add(n)
            need -= caps[n]
            if need == 0:
                return taken
    frags = sorted(((free[n], n) for n in nodes if free[n] and n not in used), reverse=True)
    for f, n in frags:
        if f >= need:
            tightest = min((g, m) for g, m in frags if g >= need)
            return [*taken, (tightest[1], need)]
        taken.append((n, f))
        need -= f
    raise AssertionError("not enough")


# running jobs laid over the nodes one after another: (nodes, accelerators per node, exclusive,
# nodes left free after it), so that the facility fills and a large gang waits for releases
RUN = st.tuples(st.integers(1, 40), st.integers(1, 8), st.booleans(), st.integers(0, 2))
JOB = st.tuples(
    st.one_of(st.integers(1, 64), st.integers(65, 4_096)),
    st.sampled_from([SafetyLevel.L1, SafetyLevel.L2, SafetyLevel.L3]),
    st.booleans(),
)


def laid(t: Topology, runs: list[tuple[int, int, bool, int]], start: int) -> list[Placement]:
    """Placements inside one pool each, from node ``start`` on, until the nodes run out."""
    out: list[Placement] = []
    first = start
    for i, (width, per, exclusive, gap) in enumerate(runs * 8):
        if first >= SIZE:
            break
        pool = t.node_pool[first]
        nodes = tuple(n for n in range(first, min(SIZE, first + width)) if t.node_pool[n] == pool)
        counts = tuple(t.node_cap[n] if exclusive else min(per, t.node_cap[n]) for n in nodes)
        out.append(Placement(job_id=f"r{i}", accelerator_type=t.pools[pool].accelerator_type,
                             node_ids=tuple(t.node_ids[n] for n in nodes), counts=counts, nodes=nodes,
                             pool=pool, exclusive=exclusive))  # fmt: skip
        first = nodes[-1] + 1 + gap
    return out


def ledger(
    runs: list[tuple[int, int, bool, int]], start: int, down: list[int], held: list[int]
) -> tuple[Capacity, list[Placement]]:
    """The blank ledger, nodes failed, the placements taken, nodes held (as a cycle's reserved view)."""
    capacity = _BLANK.copy()
    for n in sorted(set(down)):
        capacity.fail(n)
    placements = laid(capacity.topology, runs, start)
    capacity.take_all(placements)
    capacity.hold(tuple(dict.fromkeys(held)))  # a reservation names each node once
    return capacity, placements


@settings(deadline=None, max_examples=150)
@given(
    st.lists(RUN, min_size=1, max_size=60),
    st.integers(0, 64),
    st.lists(st.integers(0, SIZE - 1), max_size=6),
    st.lists(st.integers(0, SIZE - 1), max_size=30),
    JOB,
    st.randoms(use_true_random=False),
)
def test_the_replay_reserves_what_the_reference_reserves(
    runs: list[tuple[int, int, bool, int]],
    start: int,
    down: list[int],
    held: list[int],
    job_shape: tuple[int, SafetyLevel, bool],
    rng: object,
) -> None:
    """Any ledger, a blocked job (shared or exclusive, across sites or not; larger than any hole
    now, by ``extra``), the running jobs' releases in any order: the same release, the same placement."""
    capacity, placements = ledger(runs, start, down, held)
    extra, label, cross = job_shape
    pools = capacity.topology.pools_for(None, label)
    top = FACILITY if cross else SITE
    largest = max(capacity.acc[top][u] for p in pools for u in capacity.topology.pool_units[top][p])
    job = Job(id="j", accelerators=largest + extra, estimate_s=60.0, label=label, allow_cross_site=cross)
    rng.shuffle(placements)  # type: ignore[attr-defined]
    before = (capacity.free[:], [a[:] for a in capacity.acc], [w[:] for w in capacity.whole])
    assert first_fit_after(capacity, job, pools, placements) == reference(capacity, job, pools, placements)
    assert (capacity.free, capacity.acc, capacity.whole) == before


@settings(deadline=None, max_examples=60)
@given(st.lists(RUN, min_size=1, max_size=40), JOB, st.lists(st.integers(-3, 3), min_size=1, max_size=5))
def test_odd_releases_and_gangs_that_fit_already_are_replayed_alike(
    runs: list[tuple[int, int, bool, int]], job_shape: tuple[int, SafetyLevel, bool], odd: list[int]
) -> None:
    """Releases with odd counts (free counts that go negative or past the node: the counted levels
    no longer bound each other) and gangs that fit before any release: still the reference's answer."""
    capacity, placements = ledger(runs, 0, [], [])
    accelerators, label, cross = job_shape
    job = Job(id="j", accelerators=accelerators, estimate_s=60.0, label=label, allow_cross_site=cross)
    pools = capacity.topology.pools_for(None, label)
    twisted = [
        Placement(
            job_id=p.job_id,
            accelerator_type=p.accelerator_type,
            node_ids=p.node_ids,
            counts=tuple(c + odd[k % len(odd)] for k, c in enumerate(p.counts)),
            nodes=p.nodes,
            pool=p.pool,
            exclusive=False,
        )
        for p in placements
    ]
    releases = [q for pair in zip(placements, twisted, strict=True) for q in pair]
    assert first_fit_after(capacity, job, pools, releases) == reference(capacity, job, pools, releases)


_UNITS = {  # [level] -> its units of more than one node (small and large units alike likely)
    lv: [(lv, u) for u, nodes in enumerate(_FACILITY.unit_nodes[lv]) if len(nodes) > 1]
    for lv in range(FACILITY + 1)
}
UNIT = st.sampled_from([lv for lv, units in _UNITS.items() if units]).flatmap(
    lambda lv: st.sampled_from(_UNITS[lv])
)


@settings(deadline=None, max_examples=200)
@given(
    UNIT,
    st.lists(st.sampled_from([0, 0, 0, 1, 2, 3, 4, 8, 8, 8]), min_size=SIZE, max_size=SIZE),
    st.integers(1, 600),
    st.booleans(),
    st.none() | st.integers(0, SIZE - 1),
)
def test_a_gang_is_placed_in_a_unit_as_the_reference_places_it(
    unit: tuple[int, int], pattern: list[int], need: int, exclusive: bool, over: int | None
) -> None:
    """Any free counts (whole nodes, fragments, none; ``over``: a node with more than its capacity),
    any gang the unit may or may not hold: the same nodes and counts, or the same refusal."""
    t = _FACILITY
    level, u = unit
    nodes = t.unit_nodes[level][u]
    free = [min(v, t.node_cap[n]) if n != over else t.node_cap[n] + 1 for n, v in enumerate(pattern)]
    pool = t.unit_pool[level][u]
    job = Job(
        id="j", accelerators=need, estimate_s=60.0, label=SafetyLevel.L2 if exclusive else SafetyLevel.L1
    )
    if not exclusive and sum(free[n] for n in nodes) < need:
        with pytest.raises(AssertionError):
            placed(t, free, job, pool, nodes)
        with pytest.raises(AssertionError):
            place_in(t, free, job, pool, nodes)
        return
    assert place_in(t, free, job, pool, nodes) == placed(t, free, job, pool, nodes)
