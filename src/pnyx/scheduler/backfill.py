"""Backfill reservations (EASY, or conservative): when will a blocked job start, and on which nodes?

The running jobs' estimated ends are replayed in order on a private copy of the free counts; the
first end after which the job fits is its *shadow time*, and the nodes it would get then are
reserved. A job started behind it may use reserved nodes only if its estimate ends before the
shadow time; any other job sees the reserved nodes as busy. So a backfilled job never delays a
reservation, as long as estimates are upper bounds (in production the estimate is the time limit).

The replay is kept cheap: only running jobs in the blocked job's pools are replayed, only the
levels that could hold the gang are counted, and after each release only the units around the
released nodes are checked (nothing else changed since the last check).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.model import Job, Placement, Reservation, Running
from pnyx.scheduler.placement import gang_nodes, place_in
from pnyx.scheduler.topology import FACILITY, SITE


class ReservationMemo:
    """The caller's memory of the last cycle's reservations, passed in through the snapshot.

    The scheduler stays pure in the sense that matters: no module-level state, nothing read from a
    clock; the caller owns this object (the simulator keeps one per run; the dispatch loop, which
    builds a fresh snapshot each cycle, may pass none and then every cycle replays from scratch).
    A remembered reservation is reused only while it is still *safe*: the same job, none of its
    nodes down or held by another reservation, and no job started since it was made on its nodes
    expected to end after its start (jobs running when it was made were part of its replay). It is
    replayed afresh once it is ``policy.reservation_reuse_s`` old or its start has passed, so an
    earlier start (jobs ending before their estimates) is not missed for long.
    """

    __slots__ = ("entries", "far")

    def __init__(self) -> None:
        self.entries: dict[str, tuple[Job, Reservation, float]] = {}  # job id -> (job, reservation, made at)
        self.far: dict[str, float] = {}  # job id -> when its reservation was found too far off to make

    def __len__(self) -> int:
        return len(self.entries)


def remembered(
    memo: ReservationMemo,
    capacity: Capacity,
    job: Job,
    running: Mapping[str, Running],
    now: float,
    reuse_s: float,
) -> Reservation | None:
    """The remembered reservation for ``job`` if it is still safe (see ``ReservationMemo``)."""
    entry = memo.entries.get(job.id)
    if entry is None:
        return None
    old_job, old, made = entry
    if old_job != job or now - made >= reuse_s or old.start_s < now:
        return None
    down, held = capacity.down, capacity.held
    nodes = set(old.nodes)
    if any(down[n] or n in held for n in nodes):
        return None
    # Jobs running when it was made were in its replay; only jobs started since can break it.
    for r in running.values():
        if r.start_s >= made and r.end_s > old.start_s and not nodes.isdisjoint(r.placement.nodes):
            return None
    return old


def reserve(
    capacity: Capacity, job: Job, pools: tuple[int, ...], by_end: Sequence[Running], now: float
) -> Reservation | None:
    """The earliest reservation for ``job`` given the running jobs in order of estimated end."""
    found = first_fit_after(capacity, job, pools, [r.placement for r in by_end])
    if found is None:
        return None
    index, placement = found
    return Reservation(job_id=job.id, start_s=max(by_end[index].end_s, now), nodes=placement.nodes)


def first_fit_after(
    capacity: Capacity, job: Job, pools: tuple[int, ...], releases: Sequence[Placement]
) -> tuple[int, Placement] | None:
    """Replay ``releases`` in order on private counters: after which one does ``job`` first fit, where?

    ``capacity`` is not changed. Held and down nodes stay busy.
    """
    t = capacity.topology
    exclusive = job.exclusive
    want = {p: gang_nodes(capacity, p, job.accelerators) if exclusive else job.accelerators for p in pools}
    limits = t.pool_max_nodes if exclusive else t.pool_max_cap
    top = FACILITY if job.allow_cross_site else SITE
    levels = [lv for lv in range(top + 1) if any(want[p] <= limits[lv][p] for p in pools)]
    source = capacity.whole if exclusive else capacity.acc
    counts = {lv: source[lv][:] for lv in levels}
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
        found = _fitting_unit(t.node_unit, t.unit_pool, counts, want, placement.nodes)
        if found is not None:
            level, unit = found
            return index, place_in(t, free, job, t.unit_pool[level][unit], t.unit_nodes[level][unit])
    return None


def _fitting_unit(
    node_unit: tuple[tuple[int, ...], ...],
    unit_pool: tuple[tuple[int, ...], ...],
    counts: dict[int, list[int]],
    want: dict[int, int],
    nodes: tuple[int, ...],
) -> tuple[int, int] | None:
    """The smallest level, then tightest unit, around ``nodes`` that now holds the gang."""
    for level, level_counts in counts.items():
        best: int | None = None
        for n in nodes:
            u = node_unit[level][n]
            need = want.get(unit_pool[level][u])
            if (
                need is not None
                and level_counts[u] >= need
                and (best is None or level_counts[u] < level_counts[best])
            ):
                best = u
        if best is not None:
            return level, best
    return None
