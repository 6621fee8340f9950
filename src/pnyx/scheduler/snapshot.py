"""The one view of the facility a cycle sees: capacity, running jobs, entitlements and usage.

A cycle never changes a snapshot: it works on a copy of the capacity and returns decisions, which
the caller (the dispatch loop, or the simulator) applies to its own state before the next snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pnyx.scheduler.backfill import ReservationMemo
from pnyx.scheduler.capacity import Capacity, blank_of
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Running
from pnyx.scheduler.topology import Topology


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    capacity: Capacity
    running: Mapping[str, Running]
    shares: Shares
    usage: Usage
    memo: ReservationMemo | None = None  # the caller's memory of reservations across cycles, if any

    @property
    def topology(self) -> Topology:
        return self.capacity.topology

    def tenants(self) -> dict[int, set[str]]:
        """Projects present on each occupied node (for co-tenancy checks and reports)."""
        out: dict[int, set[str]] = defaultdict(set)
        for r in self.running.values():
            for n in r.placement.nodes:
                out[n].add(r.job.project)
        return out


def build_snapshot(
    topology: Topology,
    running: Iterable[Running],
    shares: Shares,
    usage: Usage,
    down: Iterable[int] = (),
    *,
    blank: Capacity | None = None,
) -> Snapshot:
    """A snapshot from scratch (the production path: state loaded from the database each cycle).
    ``blank``: the topology's capacity with nothing taken, to copy (``capacity.blank_of``)."""
    capacity = blank_of(topology, blank).copy()
    for n in down:
        capacity.fail(n)
    by_id = {r.job.id: r for r in running}
    capacity.take_all(r.placement for r in by_id.values())
    return Snapshot(capacity=capacity, running=by_id, shares=shares, usage=usage)
