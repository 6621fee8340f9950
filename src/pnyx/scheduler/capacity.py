"""Free capacity with incremental counters: per node, per unit at every level, and best-fit buckets.

Every change goes through ``set_free`` which updates, in O(levels), the free accelerators and the
count of wholly free nodes of the node's NVLink domain, rack, island, site and pool; domains and
racks also sit in buckets keyed by those counts, so the best-fitting unit for a gang is found by
looking at a few dozen buckets instead of scanning ten thousand domains.
"""

from __future__ import annotations

from pnyx.scheduler.model import Placement
from pnyx.scheduler.topology import FACILITY, INDEXED_LEVELS, ISLAND, SITE, Topology

Buckets = list[list[list[dict[int, None]]]]  # [level][pool][count] -> units (insertion-ordered set)


class Capacity:
    """Mutable bookkeeping for one view of the facility. ``copy()`` is cheap (C-level list/dict copies)."""

    __slots__ = (
        "acc",
        "bucket_acc",
        "bucket_whole",
        "down",
        "free",
        "held",
        "journal",
        "topology",
        "total",
        "whole",
    )

    def __init__(self, topology: Topology) -> None:
        """All accelerators of nodes the inventory marks up are free."""
        self.topology = topology
        t = topology
        self.free = [0] * len(t.node_cap)
        self.down = [not up for up in t.node_up]
        self.total = 0
        self.held: set[int] = set()  # reserved for a blocked job: take/give leave them at zero
        self.journal: list[tuple[int, int]] | None = None  # (node, old free) while journaling
        self.acc = [[0] * len(caps) for caps in t.unit_cap]
        self.whole = [[0] * len(caps) for caps in t.unit_cap]
        self.bucket_acc: Buckets = [
            [[{} for _ in range(t.pool_max_cap[lv][p] + 1)] for p in range(len(t.pools))]
            for lv in INDEXED_LEVELS
        ]
        self.bucket_whole: Buckets = [
            [[{} for _ in range(t.pool_max_nodes[lv][p] + 1)] for p in range(len(t.pools))]
            for lv in INDEXED_LEVELS
        ]
        for n, cap in enumerate(t.node_cap):
            if not self.down[n]:
                self.set_free(n, cap)

    def copy(self) -> Capacity:
        clone = Capacity.__new__(Capacity)
        clone.topology = self.topology
        clone.free = self.free[:]
        clone.down = self.down[:]
        clone.total = self.total
        clone.held = set(self.held)
        clone.journal = None
        clone.acc = [a[:] for a in self.acc]
        clone.whole = [w[:] for w in self.whole]
        clone.bucket_acc = [[list(map(dict.copy, p)) for p in lv] for lv in self.bucket_acc]
        clone.bucket_whole = [[list(map(dict.copy, p)) for p in lv] for lv in self.bucket_whole]
        return clone

    def set_free(self, n: int, new: int) -> None:
        old = self.free[n]
        if new == old:
            return
        t = self.topology
        cap = t.node_cap[n]
        self.free[n] = new
        if self.journal is not None:
            self.journal.append((n, old))
        d = new - old
        w = (new == cap) - (old == cap)
        self.total += d
        pool = t.node_pool[n]
        for lv in INDEXED_LEVELS:
            u = t.node_unit[lv][n]
            acc = self.acc[lv]
            a0 = acc[u]
            acc[u] = a0 + d
            buckets = self.bucket_acc[lv][pool]
            if a0:
                del buckets[a0][u]
            if a0 + d:
                buckets[a0 + d][u] = None
            if w:
                whole = self.whole[lv]
                k0 = whole[u]
                whole[u] = k0 + w
                wb = self.bucket_whole[lv][pool]
                if k0:
                    del wb[k0][u]
                if k0 + w:
                    wb[k0 + w][u] = None
        for lv in (ISLAND, SITE, FACILITY):
            u = t.node_unit[lv][n]
            self.acc[lv][u] += d
            if w:
                self.whole[lv][u] += w

    def begin(self) -> None:
        """Start recording changes so that ``rollback`` can undo them (a cycle's trial work)."""
        self.journal = []

    def rollback(self) -> None:
        journal, self.journal = self.journal or [], None
        for n, old in reversed(journal):
            self.set_free(n, old)

    def hold(self, nodes: tuple[int, ...]) -> None:
        """Reserve nodes for a blocked job: they read as busy in this view from now on.

        A reservation for a large gang holds thousands of nodes, so the counters are updated once per
        unit rather than once per node (same end state as ``set_free(n, 0)`` for each node).
        """
        t = self.topology
        free, caps = self.free, t.node_cap
        self.held.update(nodes)
        changed = [(n, free[n]) for n in nodes if free[n]]
        if not changed:
            return
        if self.journal is not None:
            self.journal.extend(changed)
        for n, old in changed:
            free[n] = 0
            self.total -= old
        for lv in range(FACILITY + 1):
            node_unit = t.node_unit[lv]
            d_acc: dict[int, int] = {}
            d_whole: dict[int, int] = {}
            for n, old in changed:
                u = node_unit[n]
                d_acc[u] = d_acc.get(u, 0) + old
                if old == caps[n]:
                    d_whole[u] = d_whole.get(u, 0) + 1
            acc, whole = self.acc[lv], self.whole[lv]
            if lv in INDEXED_LEVELS:
                unit_pool = t.unit_pool[lv]
                for u, d in d_acc.items():
                    a0 = acc[u]
                    acc[u] = a0 - d
                    buckets = self.bucket_acc[lv][unit_pool[u]]
                    del buckets[a0][u]
                    if a0 - d:
                        buckets[a0 - d][u] = None
                for u, d in d_whole.items():
                    k0 = whole[u]
                    whole[u] = k0 - d
                    buckets = self.bucket_whole[lv][unit_pool[u]]
                    del buckets[k0][u]
                    if k0 - d:
                        buckets[k0 - d][u] = None
            else:
                for u, d in d_acc.items():
                    acc[u] -= d
                for u, d in d_whole.items():
                    whole[u] -= d

    def take(self, placement: Placement) -> None:
        """Allocate a placement: its counts, or whole nodes when it is exclusive."""
        free = self.free
        for n, c in zip(placement.nodes, placement.counts, strict=True):
            if not self.down[n] and n not in self.held:
                self.set_free(n, 0 if placement.exclusive else free[n] - c)

    def give(self, placement: Placement) -> None:
        """Release a placement (nodes that went down stay at zero until repaired)."""
        caps = self.topology.node_cap
        free = self.free
        for n, c in zip(placement.nodes, placement.counts, strict=True):
            if not self.down[n] and n not in self.held:
                self.set_free(n, caps[n] if placement.exclusive else free[n] + c)

    def fail(self, n: int) -> None:
        """Take a node out (failed or drained); whoever ran there must already be released."""
        self.set_free(n, 0)
        self.down[n] = True

    def repair(self, n: int) -> None:
        self.down[n] = False
        self.set_free(n, self.topology.node_cap[n])

    def fits_somewhere(self, pools: tuple[int, ...], need: int, exclusive: bool) -> bool:
        """A necessary condition, in O(pools): the pools hold enough free capacity in total."""
        t = self.topology
        units = t.pool_units[FACILITY]
        if exclusive:
            return sum(self.whole[FACILITY][units[p][0]] * t.pools[p].per_node for p in pools) >= need
        return sum(self.acc[FACILITY][units[p][0]] for p in pools) >= need


def unit_free(capacity: Capacity, level: int, unit: int, exclusive: bool) -> int:
    """Free accelerators (or wholly free nodes, for exclusive gangs) of one unit."""
    return (capacity.whole if exclusive else capacity.acc)[level][unit]
