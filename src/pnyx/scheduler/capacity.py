"""Free capacity with incremental counters: per node, per unit at every level, and best-fit buckets.

Every change goes through ``set_free`` which updates, in O(levels), the free accelerators and the
count of wholly free nodes of the node's NVLink domain, rack, island, site and pool; domains and
racks also sit in buckets keyed by those counts, so the best-fitting unit for a gang is found by
looking at a few dozen buckets instead of scanning ten thousand domains.
"""

from __future__ import annotations

from collections.abc import Iterable

from pnyx.scheduler.model import Placement
from pnyx.scheduler.topology import DOMAIN, FACILITY, INDEXED_LEVELS, ISLAND, SITE, Topology

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
        "parents",
        "topology",
        "total",
        "undone",
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
        self.undone: list[tuple[int, int]] = []  # what the last rollback undid
        self.parents = parents_of(t)  # of the topology: shared by copies
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
        clone.undone = []
        clone.parents = self.parents
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
        """Undo the changes since ``begin``: the same counters, though the units they moved sit at
        the end of their buckets now (``undone`` names their nodes, for a caller that keeps order)."""
        journal, self.journal = self.journal or [], None
        for n, old in reversed(journal):
            self.set_free(n, old)
        self.undone = journal

    def hold(self, nodes: tuple[int, ...]) -> None:
        """Reserve nodes for a blocked job: they read as busy in this view from now on.

        A reservation for a large gang holds thousands of nodes, so the counters are updated once per
        unit rather than once per node (the counters ``set_free(n, 0)`` for each node leaves), each
        unit moved once, in the order of its first node among ``nodes``; the nodes are summed into
        their NVLink domains once, and each level above from the one below where units nest.
        """
        free = self.free
        self.held.update(nodes)
        changed = [(n, free[n]) for n in nodes if free[n]]
        if not changed:
            return
        if self.journal is not None:
            self.journal.extend(changed)
        for n, _old in changed:
            free[n] = 0
        self.total -= sum(old for _n, old in changed)
        acc_moves, whole_moves = self._held_moves(DOMAIN, changed)
        for lv in range(FACILITY + 1):
            parent = self.parents[lv]
            if lv > DOMAIN:
                acc_moves, whole_moves = (
                    self._held_moves(lv, changed)
                    if parent is None
                    else (_first_summed(parent, acc_moves), _first_summed(parent, whole_moves))
                )
            self._move(lv, acc_moves, whole_moves)

    def _held_moves(self, lv: int, changed: list[tuple[int, int]]) -> tuple[dict[int, int], dict[int, int]]:
        """Each unit of ``lv`` the held nodes ``changed`` (node, old free) are in, by the change of its
        free accelerators and of its wholly free nodes, in the order of its first node."""
        caps, node_unit = self.topology.node_cap, self.topology.node_unit[lv]
        acc: dict[int, int] = {}
        whole: dict[int, int] = {}
        for n, old in changed:
            u = node_unit[n]
            acc[u] = acc.get(u, 0) - old
            if old == caps[n]:
                whole[u] = whole.get(u, 0) - 1
        return acc, whole

    def take(self, placement: Placement) -> None:
        """Allocate a placement: its counts, or whole nodes when it is exclusive."""
        free = self.free
        for n, c in zip(placement.nodes, placement.counts, strict=True):
            if not self.down[n] and n not in self.held:
                self.set_free(n, 0 if placement.exclusive else free[n] - c)

    def take_all(self, placements: Iterable[Placement]) -> None:
        """``take`` of each placement in order, in one pass: the same end state (counters, and units
        in each bucket in the same order), with one bucket move per unit instead of one per node."""
        keep = self.journal is not None or None in self.parents[1:]
        acc_moves, whole_moves, changes = self._taken(placements, keep)
        if self.journal is not None:
            self.journal.extend((n, old) for n, old, _ in changes)
        self.total += sum(acc_moves.values())
        for lv in range(FACILITY + 1):
            if lv > DOMAIN:
                acc_moves, whole_moves = self._lifted(lv, changes, acc_moves, whole_moves)
            self._move(lv, acc_moves, whole_moves)

    def _move(self, lv: int, acc_moves: dict[int, int], whole_moves: dict[int, int]) -> None:
        """Level ``lv``'s units moved by these counts (indexed levels rebucketed)."""
        if lv in INDEXED_LEVELS:
            _rebucket(self.acc[lv], self.bucket_acc[lv], self.topology.unit_pool[lv], acc_moves)
            _rebucket(self.whole[lv], self.bucket_whole[lv], self.topology.unit_pool[lv], whole_moves)
            return
        acc, whole = self.acc[lv], self.whole[lv]
        for u, d in acc_moves.items():
            acc[u] += d
        for u, d in whole_moves.items():
            whole[u] += d

    def _taken(
        self, placements: Iterable[Placement], keep: bool
    ) -> tuple[dict[int, int], dict[int, int], list[tuple[int, int, int]]]:
        """Take the placements' nodes in ``free``; the moves of their NVLink domains (as
        ``_node_moves``) and, with ``keep``, the changes (node, old free, new free) in order. One loop
        over the nodes: the hot path of every snapshot (thousands of nodes a cycle)."""
        free, down, held = self.free, self.down, self.held
        caps, node_unit = self.topology.node_cap, self.topology.node_unit[DOMAIN]
        acc: dict[int, int] = {}
        whole: dict[int, int] = {}
        changes: list[tuple[int, int, int]] = []
        for p in placements:
            exclusive = p.exclusive
            for n, c in zip(p.nodes, p.counts, strict=True):
                if down[n] or n in held:
                    continue
                old = free[n]
                new = 0 if exclusive else old - c
                if new == old:
                    continue
                free[n] = new
                u = node_unit[n]
                acc[u] = acc.pop(u, 0) + new - old  # popped and put back: last changed, last
                w = (new == caps[n]) - (old == caps[n])
                if w:
                    whole[u] = whole.pop(u, 0) + w
                if keep:
                    changes.append((n, old, new))
        return acc, whole, changes

    def _node_moves(
        self, lv: int, changes: list[tuple[int, int, int]]
    ) -> tuple[dict[int, int], dict[int, int]]:
        """Each unit of ``lv`` that ``changes`` move, by its total change in free accelerators and in
        wholly free nodes, in the order of their last change (a unit is popped and put back at each
        change). A bucket is an insertion-ordered set: one ``set_free`` after another leaves a unit
        where its last move put it, so moving each once, in the order of their last change, ends in
        the same order."""
        caps, node_unit = self.topology.node_cap, self.topology.node_unit[lv]
        acc: dict[int, int] = {}
        whole: dict[int, int] = {}
        for n, old, new in changes:
            u = node_unit[n]
            acc[u] = acc.pop(u, 0) + new - old
            w = (new == caps[n]) - (old == caps[n])
            if w:
                whole[u] = whole.pop(u, 0) + w
        return acc, whole

    def _lifted(
        self, lv: int, changes: list[tuple[int, int, int]], acc: dict[int, int], whole: dict[int, int]
    ) -> tuple[dict[int, int], dict[int, int]]:
        """The moves of level ``lv`` from those of the level below, where each unit below lies in
        one unit of ``lv`` (its last change is its last unit's); else from the nodes."""
        parent = self.parents[lv]
        if parent is None:
            return self._node_moves(lv, changes)
        return _summed(parent, acc), _summed(parent, whole)

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
        return (self.whole_in(pools) if exclusive else self.free_in(pools)) >= need

    def free_in(self, pools: tuple[int, ...]) -> int:
        """The free accelerators of ``pools``."""
        units, counts = self.topology.pool_units[FACILITY], self.acc[FACILITY]
        return sum(counts[units[p][0]] for p in pools)

    def whole_in(self, pools: tuple[int, ...]) -> int:
        """The accelerators of ``pools``' wholly free nodes (what an exclusive gang may take)."""
        t = self.topology
        units, counts = t.pool_units[FACILITY], self.whole[FACILITY]
        return sum(counts[units[p][0]] * t.pools[p].per_node for p in pools)


def _summed(parent: tuple[int, ...], moves: dict[int, int]) -> dict[int, int]:
    """Moves per parent unit, in the order of each one's last moved unit below."""
    out: dict[int, int] = {}
    for u, d in moves.items():
        p = parent[u]
        out[p] = out.pop(p, 0) + d
    return out


def _first_summed(parent: tuple[int, ...], moves: dict[int, int]) -> dict[int, int]:
    """Moves per parent unit, in the order of each one's first moved unit below."""
    out: dict[int, int] = {}
    for u, d in moves.items():
        p = parent[u]
        out[p] = out.get(p, 0) + d
    return out


def parents_of(t: Topology) -> tuple[tuple[int, ...] | None, ...]:
    """[level] -> the unit of that level holding each unit of the level below, or None where a
    unit below spans several (level 0: None)."""
    out: list[tuple[int, ...] | None] = [None]
    for lv in range(1, FACILITY + 1):
        below, units = t.unit_nodes[lv - 1], t.node_unit[lv]
        nested = all(len({units[n] for n in nodes}) == 1 for nodes in below)
        out.append(tuple(units[nodes[0]] for nodes in below) if nested else None)
    return tuple(out)


def _rebucket(
    counts: list[int], buckets: list[list[dict[int, None]]], unit_pool: tuple[int, ...], moves: dict[int, int]
) -> None:
    """Apply ``moves`` (unit -> change, in the order of their last change) to the counts and their
    buckets."""
    for u, d in moves.items():
        c0 = counts[u]
        counts[u] = c0 + d
        by_count = buckets[unit_pool[u]]
        if c0:
            del by_count[c0][u]
        if c0 + d:
            by_count[c0 + d][u] = None


def blank_of(topology: Topology, blank: Capacity | None = None) -> Capacity:
    """``blank`` if given (a capacity of ``topology`` with nothing taken, never changed: built once
    per topology by whoever decides many cycles over it), else one built now. A copy of it is the
    very state a new ``Capacity(topology)`` has (same counters, buckets in the same order), at a
    fifteenth of the cost at 100,000 accelerators."""
    if blank is None:
        return Capacity(topology)
    if blank.topology is not topology:
        raise ValueError("the blank capacity is of another topology")
    return blank


def unit_free(capacity: Capacity, level: int, unit: int, exclusive: bool) -> int:
    """Free accelerators (or wholly free nodes, for exclusive gangs) of one unit."""
    return (capacity.whole if exclusive else capacity.acc)[level][unit]
