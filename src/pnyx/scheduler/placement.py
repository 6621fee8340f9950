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

import bisect
import itertools
import operator
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
    """Choose nodes for the gang inside one unit known to hold it, given free counts per node.

    ``nodes``: a unit's, in ascending order (as the topology lists every unit's)."""
    if job.exclusive:
        chosen, counts = _whole_nodes(free, t.node_cap, nodes, job.accelerators, t.pools[pool].per_node)
    else:
        chosen, counts = _shared_nodes(free, t.node_cap, nodes, job.accelerators)
    return Placement(
        job_id=job.id,
        accelerator_type=t.pools[pool].accelerator_type,
        node_ids=tuple(map(t.node_ids.__getitem__, chosen)),
        counts=tuple(counts),
        nodes=tuple(chosen),
        pool=pool,
        exclusive=job.exclusive,
    )


Taken = tuple[list[int], list[int]]  # (nodes, accelerators on each)
_BYTES_FROM = 32  # nodes in a unit from which its free counts are read as bytes


def _whole_nodes(free: list[int], caps: Sequence[int], nodes: Sequence[int], need: int, per: int) -> Taken:
    """The first wholly free nodes, ``per`` accelerators on each, the rest on the last."""
    if need <= 0:
        return [], []
    k = -(-need // per)
    whole = map(operator.eq, map(free.__getitem__, nodes), map(caps.__getitem__, nodes))
    chosen = list(itertools.islice(itertools.compress(nodes, whole), k))
    counts = [per] * len(chosen)
    if len(chosen) == k:
        counts[-1] = need - per * (k - 1)
    return chosen, counts


def _shared_nodes(free: list[int], caps: Sequence[int], nodes: Sequence[int], need: int) -> Taken:
    """Whole nodes first (a gang spans as few nodes as it can), then the tightest fragment for the rest.

    Where the unit's nodes are alike (one capacity, every free count within it) its free counts are
    read as bytes, so whole nodes and fragments are found without a loop over the unit's nodes:
    the same choice as ``_shared_nodes_sorted``, which takes any unit."""
    cap = caps[nodes[0]] if nodes else 0
    free_of = _alike(free, caps, nodes, cap) if need > 0 else None
    if free_of is None:
        return _shared_nodes_sorted(free, caps, nodes, need)
    whole = free_of.translate(_marks(cap, whole=True))
    chosen = list(itertools.islice(itertools.compress(nodes, whole), need // cap))
    counts = [cap] * len(chosen)
    need -= cap * len(chosen)
    if need:
        after = bisect.bisect_right(nodes, chosen[-1]) if chosen else 0  # the wholly free ones taken
        node, count = _fragments(free_of, cap, nodes, need, whole.find(1, after))
        chosen += node
        counts += count
    return chosen, counts


def _alike(free: list[int], caps: Sequence[int], nodes: Sequence[int], cap: int) -> bytes | None:
    """The nodes' free counts as bytes, if every node has capacity ``cap`` (below 256) and a free
    count from 0 to ``cap``; else None (and for small units, which a loop reads as fast)."""
    if not 0 < cap < 256 or len(nodes) < _BYTES_FROM:
        return None
    take = operator.itemgetter(*nodes)
    values: tuple[int, ...] = take(free)
    if take(caps).count(cap) != len(nodes) or sum(map(values.count, range(cap + 1))) != len(nodes):
        return None
    return bytes(values)


def _marks(cap: int, *, whole: bool) -> bytes:
    """A table for ``bytes.translate``: 1 for wholly free (``whole``) or partly free counts, else 0."""
    if whole:
        return bytes(cap) + b"\1" + bytes(255 - cap)
    return b"\0" + b"\1" * (cap - 1) + bytes(256 - cap)


def _fragments(free_of: bytes, cap: int, nodes: Sequence[int], need: int, spare: int) -> Taken:
    """The rest of the gang from the partly free nodes and ``spare``, the first wholly free node
    left (-1: none): largest fragments while none holds the rest, then the tightest that does."""
    parts = list(itertools.compress(range(len(nodes)), free_of.translate(_marks(cap, whole=False))))
    if spare >= 0:  # the whole node holds the rest (``need`` < ``cap``): the tightest part or it
        _, i = min([(free_of[i], i) for i in parts if free_of[i] >= need] or [(cap, spare)])
        return [nodes[i]], [need]
    chosen: list[int] = []
    counts: list[int] = []
    frags = sorted(((free_of[i], i) for i in parts), reverse=True)
    for k, (v, i) in enumerate(frags):
        if v >= need:
            tightest = min(f for f in frags[k:] if f[0] >= need)
            return [*chosen, nodes[tightest[1]]], [*counts, need]
        chosen.append(nodes[i])
        counts.append(v)
        need -= v
    raise AssertionError("the unit's counters promised enough free accelerators")


def _shared_nodes_sorted(free: list[int], caps: Sequence[int], nodes: Sequence[int], need: int) -> Taken:
    """``_shared_nodes`` for any unit: nodes by capacity, fragments sorted by free value, then node."""
    taken: list[tuple[int, int]] = []
    used: set[int] = set()
    for n in nodes:
        if need >= caps[n] and free[n] == caps[n]:
            taken.append((n, caps[n]))
            used.add(n)
            need -= caps[n]
            if need == 0:
                return [n for n, _ in taken], [c for _, c in taken]
    frags = sorted(((free[n], n) for n in nodes if free[n] and n not in used), reverse=True)
    for i, (f, n) in enumerate(frags):
        if f >= need:
            j = i
            while j + 1 < len(frags) and frags[j + 1][0] >= need:
                j += 1
            taken.append((frags[j][1], need))
            return [n for n, _ in taken], [c for _, c in taken]
        taken.append((n, f))
        need -= f
    raise AssertionError("the unit's counters promised enough free accelerators")
