"""The held view: a cycle's ledger as long jobs see it, every reservation's nodes held (read as busy).

A long job (one that would still run at the earliest reservation's start) may not use reserved nodes,
so it is placed, and preempts, on a copy of the ledger with those nodes held (``Capacity.hold``).
The copy costs a copy of every bucket and a walk of every held node. Most cycles that hold nodes ask
the view only whether a job could fit at all (``fits``), or how much its pools hold free
(``free_in``, preemption's bound): those are answered from the ledger less what its held nodes hold
there, the same counts the copy would read. The copy itself (``capacity``) is built when a
placement is to be found on it, a preemption made on it or a further reservation replayed on it,
from the ledger as it is then. The cycle changes the ledger only through the view (``take``,
``give``), which changes its copy too and knows when its counts are to be read again. When it is built
is part of the scheduler's definition: its buckets start in the ledger's order of that moment, and
best fit takes a bucket's first unit.
"""

from __future__ import annotations

from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.model import Placement


class HeldView:
    __slots__ = ("built", "counts", "ledger", "nodes", "order")

    def __init__(self, ledger: Capacity) -> None:
        self.ledger = ledger
        self.nodes: set[int] = set()  # every reservation's nodes
        self.order: list[int] = []  # the same, in the order they were reserved
        self.built: Capacity | None = None  # the copy, once needed
        self.counts: tuple[dict[int, int], dict[int, int]] | None = None  # per pool: held free, held whole

    def hold(self, nodes: tuple[int, ...]) -> None:
        """A new reservation's nodes."""
        self.nodes.update(nodes)
        self.order.extend(nodes)
        self.counts = None
        if self.built is not None:
            self.built.hold(nodes)

    def capacity(self) -> Capacity:
        """The view as a capacity of its own: the ledger as it is now, every held node held."""
        if self.built is None:
            self.built = self.ledger.copy()
            self.built.hold(tuple(dict.fromkeys(self.order)))  # each node once, as ``nodes`` counts it
        return self.built

    def take(self, placement: Placement) -> None:
        """A start: taken on the ledger, and on the view."""
        self.ledger.take(placement)
        if self.built is not None:
            self.built.take(placement)
        self._changed(placement.nodes)

    def give(self, placement: Placement) -> None:
        """A preemption's victim: given back on the ledger, and on the view."""
        self.ledger.give(placement)
        if self.built is not None:
            self.built.give(placement)
        self._changed(placement.nodes)

    def _changed(self, nodes: tuple[int, ...]) -> None:
        """The ledger changed on ``nodes``: the held counts are read again if they hold any."""
        if self.counts is not None and not self.nodes.isdisjoint(nodes):
            self.counts = None

    def fits(self, pools: tuple[int, ...], need: int, exclusive: bool) -> bool:
        """``Capacity.fits_somewhere`` on the view."""
        return (self.whole_in(pools) if exclusive else self.free_in(pools)) >= need

    def free_in(self, pools: tuple[int, ...]) -> int:
        """``Capacity.free_in`` on the view."""
        if self.built is not None:
            return self.built.free_in(pools)
        held = self._held()[0]
        return self.ledger.free_in(pools) - sum(held.get(p, 0) for p in pools)

    def whole_in(self, pools: tuple[int, ...]) -> int:
        """``Capacity.whole_in`` on the view."""
        if self.built is not None:
            return self.built.whole_in(pools)
        held, kinds = self._held()[1], self.ledger.topology.pools
        return self.ledger.whole_in(pools) - sum(held.get(p, 0) * kinds[p].per_node for p in pools)

    def _held(self) -> tuple[dict[int, int], dict[int, int]]:
        """Per pool: the free accelerators of its held nodes in the ledger, and how many of them are
        wholly free (what ``Capacity.hold`` takes from the pool's counts)."""
        if self.counts is None:
            t, free = self.ledger.topology, self.ledger.free
            acc: dict[int, int] = {}
            whole: dict[int, int] = {}
            for n in self.nodes:
                f = free[n]
                if f:
                    p = t.node_pool[n]
                    acc[p] = acc.get(p, 0) + f
                    if f == t.node_cap[n]:
                        whole[p] = whole.get(p, 0) + 1
            self.counts = (acc, whole)
        return self.counts
