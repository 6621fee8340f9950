"""Gang placement: all accelerators or none, in the smallest domain that holds them, best fit.

Search order: for each level (NVLink domain, rack, island, site, and the whole facility only for
gangs that allow crossing sites), for each eligible pool (lowest sufficient certification first),
the unit with the *least* free capacity that still holds the gang. Taking the tightest hole keeps
the large holes whole for the large gangs still waiting (best fit against fragmentation).

Safety: pools are filtered by certification (node level >= job label). Gangs labelled L2 and up
take whole free nodes only, so they never share a node with another project, and the leftover
accelerators on those nodes are held with them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.model import Job, Placement
from pnyx.scheduler.topology import FACILITY, INDEXED_LEVELS, SITE, Topology


def find_placement(capacity: Capacity, job: Job, pools: tuple[int, ...]) -> Placement | None:
    """A placement for the whole gang on ``capacity``, or None; ``capacity`` is not changed."""
    top = FACILITY if job.allow_cross_site else SITE
    exclusive, need = job.exclusive, job.accelerators
    limits = capacity.topology.pool_max_nodes if exclusive else capacity.topology.pool_max_cap
    for level in range(top + 1):
        for pool in pools:
            if (gang_nodes(capacity, pool, need) if exclusive else need) > limits[level][pool]:
                continue
            unit = best_unit(capacity, level, pool, need, exclusive)
            if unit is not None:
                nodes = capacity.topology.unit_nodes[level][unit]
                return _placement(capacity, job, pool, nodes)
    return None


def gang_nodes(capacity: Capacity, pool: int, need: int) -> int:
    """Whole nodes an exclusive gang of ``need`` accelerators takes in ``pool``."""
    per = capacity.topology.pools[pool].per_node
    return -(-need // per)


def best_unit(capacity: Capacity, level: int, pool: int, need: int, exclusive: bool) -> int | None:
    """The unit of ``pool`` at ``level`` with the least free capacity that still holds the gang."""
    t = capacity.topology
    want = gang_nodes(capacity, pool, need) if exclusive else need
    limit = (t.pool_max_nodes if exclusive else t.pool_max_cap)[level][pool]
    if want > limit:
        return None
    if level in INDEXED_LEVELS:
        buckets = (capacity.bucket_whole if exclusive else capacity.bucket_acc)[level][pool]
        for count in range(want, limit + 1):
            if buckets[count]:
                return next(iter(buckets[count]))
        return None
    counts = (capacity.whole if exclusive else capacity.acc)[level]
    best: int | None = None
    for unit in t.pool_units[level][pool]:
        c = counts[unit]
        if c >= want and (best is None or c < counts[best]):
            best = unit
    return best


def _placement(capacity: Capacity, job: Job, pool: int, nodes: Sequence[int]) -> Placement:
    return place_in(capacity.topology, capacity.free, job, pool, nodes)


def place_in(t: Topology, free: list[int], job: Job, pool: int, nodes: Sequence[int]) -> Placement:
    """Choose nodes for the gang inside one unit known to hold it, given free counts per node."""
    if job.exclusive:
        taken = _whole_nodes(free, t.node_cap, nodes, job.accelerators, t.pools[pool].per_node)
    else:
        taken = _shared_nodes(free, t.node_cap, nodes, job.accelerators)
    chosen = tuple(n for n, _ in taken)
    return Placement(
        job_id=job.id,
        accelerator_type=t.pools[pool].accelerator_type,
        node_ids=tuple(t.node_ids[n] for n in chosen),
        counts=tuple(c for _, c in taken),
        nodes=chosen,
        pool=pool,
        exclusive=job.exclusive,
    )


def _whole_nodes(
    free: list[int], caps: Sequence[int], nodes: Sequence[int], need: int, per: int
) -> list[tuple[int, int]]:
    taken: list[tuple[int, int]] = []
    for n in nodes:
        if need <= 0:
            break
        if free[n] == caps[n]:
            taken.append((n, min(per, need)))
            need -= per
    return taken


def _shared_nodes(
    free: list[int], caps: Sequence[int], nodes: Sequence[int], need: int
) -> list[tuple[int, int]]:
    """Whole nodes first (a gang spans as few nodes as it can), then the tightest fragment for the rest."""
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
    for i, (f, n) in enumerate(frags):
        if f >= need:
            j = i
            while j + 1 < len(frags) and frags[j + 1][0] >= need:
                j += 1
            taken.append((frags[j][1], need))
            return taken
        taken.append((n, f))
        need -= f
    raise AssertionError("the unit's counters promised enough free accelerators")
