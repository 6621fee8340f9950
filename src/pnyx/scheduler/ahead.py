"""Queue-ahead: placements handed to an engine before their accelerators are free.

An engine with its own queue (Slurm) starts a job the moment its nodes free up; a dispatcher that
hands over only what fits now leaves those nodes idle until its next look. So, for such engines,
the dispatcher plans a second layer: the jobs that start on the same accelerators once the jobs now
running there end, pinned to those nodes (the placement Pnyx decided is still what the engine runs).

Every job holding accelerators is packed, in order (started ones first, then by hand-over time),
into the first layer where its placement fits: layer 1 is the hardware now, layer 2 the queue
ahead. A job that fits neither (the engine's queue is deeper than two on its nodes) stops further
queue-ahead for the cycle: two layers at most, and nothing is ever over-committed in either. A
started job whose nodes are already full (the engine started a queued-ahead job before Pnyx read
that the one before it ended: two reads of one engine disagree for a moment) is ``overlaid``: it
counts for fair share but holds nothing in either layer, so no capacity ledger goes below zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.model import Placement, Running
from pnyx.scheduler.topology import Topology


@dataclass(frozen=True, slots=True, kw_only=True)
class Layers:
    now: tuple[Running, ...]  # on the accelerators now (or about to be: they fit as they are)
    ahead: tuple[Running, ...]  # waiting at their engine for accelerators held in ``now``
    deeper: tuple[Running, ...]  # fit neither: no further queue-ahead this cycle
    overlaid: tuple[Running, ...] = ()  # started, yet their nodes are full: two reads disagree


def layers(topology: Topology, started: Sequence[Running], waiting: Iterable[Running]) -> Layers:
    """Pack the started jobs, then the waiting ones in order, into the first layer that holds them."""
    first, second = Capacity(topology), Capacity(topology)
    now: list[Running] = []
    overlaid: list[Running] = []
    for r in started:  # the engine's word; one that cannot be (nodes over-full) holds nothing more
        fitting = fits(first, r.placement)
        if fitting:
            first.take(r.placement)
        (now if fitting else overlaid).append(r)
    ahead: list[Running] = []
    deeper: list[Running] = []
    for r in waiting:
        target = now if fits(first, r.placement) else ahead if fits(second, r.placement) else deeper
        if target is not deeper:
            (first if target is now else second).take(r.placement)
        target.append(r)
    return Layers(now=tuple(now), ahead=tuple(ahead), deeper=tuple(deeper), overlaid=tuple(overlaid))


def fits(capacity: Capacity, placement: Placement) -> bool:
    """Every node of the placement is up and has its count free (all of it, when exclusive)."""
    caps = capacity.topology.node_cap
    return all(
        not capacity.down[n] and capacity.free[n] >= (caps[n] if placement.exclusive else c)
        for n, c in zip(placement.nodes, placement.counts, strict=True)
    )


def overlapping(victims: Iterable[Placement], ahead: Iterable[Running]) -> list[Running]:
    """Queued-ahead jobs on a preempted job's nodes: they would take what the preemptor was given."""
    freed = {n for p in victims for n in p.nodes}
    return [r for r in ahead if freed.intersection(r.placement.nodes)]
