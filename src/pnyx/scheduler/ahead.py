"""Queue-ahead: placements handed to an engine before their accelerators are free.

An engine with its own queue (Slurm) starts a job the moment its nodes free up; a dispatcher that
hands over only what fits now leaves those nodes idle until its next look. So, for such engines,
the dispatcher plans a second layer: the jobs that start on the same accelerators once the jobs now
running there end, pinned to those nodes (the placement Pnyx decided is still what the engine runs).

Every job holding accelerators is packed, in order (started ones first, then by hand-over time),
into the first layer where its placement fits: layer 1 is the hardware now, layers 2..depth the
queue ahead. A job that fits none (the engine's queue is deeper than that on its nodes) stops
further queue-ahead for the cycle: ``depth`` layers at most, nothing ever over-committed in any. A
started job whose nodes are already full (the engine started a queued-ahead job before Pnyx read
that the one before it ended: two reads of one engine disagree for a moment) is ``overlaid``: it
counts for fair share but holds nothing in either layer, so no capacity ledger goes below zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pnyx.scheduler.capacity import Capacity, blank_of
from pnyx.scheduler.model import Placement, Running
from pnyx.scheduler.topology import Topology


@dataclass(frozen=True, slots=True, kw_only=True)
class Layers:
    now: tuple[Running, ...]  # on the accelerators now (or about to be: they fit as they are)
    ahead: tuple[tuple[Running, ...], ...]  # layers 2..depth: waiting at their engine, in order
    deeper: tuple[Running, ...]  # fit no layer: no further queue-ahead this cycle
    overlaid: tuple[Running, ...] = ()  # started, yet their nodes are full: two reads disagree

    @property
    def queued(self) -> tuple[Running, ...]:
        """Every job queued ahead, whatever its layer."""
        return tuple(r for layer in self.ahead for r in layer)


def layers(
    topology: Topology,
    started: Sequence[Running],
    waiting: Iterable[Running],
    depth: int = 2,
    *,
    blank: Capacity | None = None,
) -> Layers:
    """Pack the started jobs, then the waiting ones in order, into the first of ``depth`` layers
    that holds them. ``blank``: the topology's capacity with nothing taken (``capacity.blank_of``),
    whose free counts each layer starts from; built here when not given."""
    empty = blank_of(topology, blank)
    ledgers = [_Layer(empty) for _ in range(max(1, depth))]
    packed: list[list[Running]] = [[] for _ in ledgers]
    overlaid: list[Running] = []
    for r in started:  # the engine's word; one that cannot be (nodes over-full) holds nothing more
        fitting = ledgers[0].fits(r.placement)
        if fitting:
            ledgers[0].take(r.placement)
        (packed[0] if fitting else overlaid).append(r)
    deeper: list[Running] = []
    for r in waiting:
        layer = next((i for i, c in enumerate(ledgers) if c.fits(r.placement)), None)
        if layer is None:
            deeper.append(r)
            continue
        ledgers[layer].take(r.placement)
        packed[layer].append(r)
    ahead = tuple(tuple(layer) for layer in packed[1:])
    return Layers(now=tuple(packed[0]), ahead=ahead, deeper=tuple(deeper), overlaid=tuple(overlaid))


class _Layer:
    """One layer's free accelerators per node: all that ``fits`` reads of a ``Capacity``, and
    ``take`` as ``Capacity.take`` changes them, without the counters a placement search needs."""

    __slots__ = ("caps", "down", "free")

    def __init__(self, blank: Capacity) -> None:
        self.free, self.down, self.caps = blank.free[:], blank.down, blank.topology.node_cap

    def fits(self, placement: Placement) -> bool:
        return _fits(self.free, self.down, self.caps, placement)

    def take(self, placement: Placement) -> None:
        free, down = self.free, self.down
        for n, c in zip(placement.nodes, placement.counts, strict=True):
            if not down[n]:
                free[n] = 0 if placement.exclusive else free[n] - c


def fits(capacity: Capacity, placement: Placement) -> bool:
    """Every node of the placement is up and has its count free (all of it, when exclusive)."""
    return _fits(capacity.free, capacity.down, capacity.topology.node_cap, placement)


def _fits(free: Sequence[int], down: Sequence[bool], caps: Sequence[int], placement: Placement) -> bool:
    if placement.exclusive:  # one loop each, no per-node branch: every holding job, every cycle
        for n, _c in zip(placement.nodes, placement.counts, strict=True):
            if down[n] or free[n] < caps[n]:
                return False
        return True
    for n, c in zip(placement.nodes, placement.counts, strict=True):  # noqa: SIM110 (all() of a generator is slower)
        if down[n] or free[n] < c:
            return False
    return True


def overlapping(victims: Iterable[Placement], ahead: Iterable[Running]) -> list[Running]:
    """Queued-ahead jobs on a preempted job's nodes: they would take what the preemptor was given."""
    freed = {n for p in victims for n in p.nodes}
    return [r for r in ahead if freed.intersection(r.placement.nodes)]
