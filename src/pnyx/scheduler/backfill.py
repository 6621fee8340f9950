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

import math
from collections.abc import Mapping, Sequence
from enum import Enum

from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.model import Job, Placement, Reservation, Running
from pnyx.scheduler.placement import gang_nodes, place_in
from pnyx.scheduler.topology import FACILITY, SITE, Topology


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
    if not levels:
        return None
    replay = _Replay(capacity, exclusive, want, levels)
    found = replay.at_top(releases)
    if found is _Unsure.UNSURE:
        replay = _Replay(capacity, exclusive, want, levels)
        found = replay.at_every_level(releases)
    if found is None:
        return None
    index, level, unit = found
    return index, place_in(t, replay.free, job, t.unit_pool[level][unit], t.unit_nodes[level][unit])


class _Unsure(Enum):
    UNSURE = "the top level alone cannot tell: replay every level"


Found = tuple[int, int, int]  # (release index, level, unit)


class _Replay:
    """One replay of releases on a private copy of the free counts.

    ``at_every_level`` counts every level that could hold the gang and, after each release, looks
    at the units around its nodes. ``at_top`` gives the same answer counting the top level alone:
    where units nest and no count of the lowest level counted is negative (``_nested``), a unit's
    count is at most that of the top unit around it, so no unit fits before a top unit does, and a
    top unit first fits after a release that raised it. Only then are the lower levels around that
    release counted (their units' nodes summed), and the tightest unit chosen as ``at_every_level``
    chooses it.
    """

    __slots__ = ("capacity", "exclusive", "free", "levels", "source", "topology", "want")

    def __init__(self, capacity: Capacity, exclusive: bool, want: dict[int, int], levels: list[int]) -> None:
        self.capacity, self.topology, self.exclusive = capacity, capacity.topology, exclusive
        self.want, self.levels = want, levels
        self.source = capacity.whole if exclusive else capacity.acc
        self.free = capacity.free[:]

    def at_every_level(self, releases: Sequence[Placement]) -> Found | None:
        t, exclusive, want, levels, free = self.topology, self.exclusive, self.want, self.levels, self.free
        counts = {lv: self.source[lv][:] for lv in levels}
        caps, down, held = t.node_cap, self.capacity.down, self.capacity.held
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
            found = _fitting_unit(t, counts, want, placement.nodes)
            if found is not None:
                return index, *found
        return None

    def at_top(self, releases: Sequence[Placement]) -> Found | _Unsure | None:
        """As ``at_every_level``; UNSURE (and ``free`` changed) where that takes every level."""
        if not self._nested():
            return _Unsure.UNSURE
        t, exclusive, free = self.topology, self.exclusive, self.free
        top = self.levels[-1]
        top_unit, counts = t.node_unit[top], self.source[top][:]
        need = [self.want.get(p, math.inf) for p in t.unit_pool[top]]
        if any(c >= w for c, w in zip(counts, need, strict=True)):
            return _Unsure.UNSURE  # fits before any release: the first release near it answers
        caps, down, held = t.node_cap, self.capacity.down, self.capacity.held
        for index, placement in enumerate(releases):
            if placement.pool not in self.want:
                continue
            rose, fill = False, placement.exclusive
            for n, c in zip(placement.nodes, placement.counts, strict=True):
                if down[n] or n in held:
                    continue
                old = free[n]
                new = caps[n] if fill else old + c
                free[n] = new
                if exclusive:
                    delta = (new == caps[n]) - (old == caps[n])
                elif new < old:
                    return _Unsure.UNSURE  # a count falls: a unit's may fall below one inside it
                else:
                    delta = new - old
                if delta:
                    u = top_unit[n]
                    counts[u] += delta
                    rose = rose or counts[u] >= need[u]
            if rose and (found := self._fitting_near(counts, placement.nodes)) is not None:
                return index, *found
        return None

    def _nested(self) -> bool:
        """Every level counted nests in the top one, and a unit's count is at least that of any unit
        inside it: wholly free nodes are never fewer than none, and free accelerators of the units of
        the lowest level counted (whose sums the others are) are never below zero."""
        parents, levels = self.capacity.parents, self.levels
        if any(parents[lv] is None for lv in range(levels[0] + 1, levels[-1] + 1)):
            return False
        return self.exclusive or min(self.source[levels[0]], default=0) >= 0

    def _fitting_near(self, top_counts: list[int], nodes: tuple[int, ...]) -> tuple[int, int] | None:
        """``_fitting_unit`` around ``nodes``, the lower levels' units counted from their nodes."""
        t, top = self.topology, self.levels[-1]
        counts: dict[int, Mapping[int, int] | list[int]] = {
            lv: top_counts if lv == top else {u: self._count(lv, u) for u in _units_of(t, lv, nodes)}
            for lv in self.levels
        }
        return _fitting_unit(t, counts, self.want, nodes)

    def _count(self, level: int, unit: int) -> int:
        """The unit's count in the replay: the capacity's, moved by its nodes' changes since."""
        nodes, caps, base, free = (
            self.topology.unit_nodes[level][unit],
            self.topology.node_cap,
            self.capacity.free,
            self.free,
        )
        if self.exclusive:
            moved = sum(free[n] == caps[n] for n in nodes) - sum(base[n] == caps[n] for n in nodes)
        else:
            moved = sum(map(free.__getitem__, nodes)) - sum(map(base.__getitem__, nodes))
        return self.source[level][unit] + moved


def _fitting_unit(
    t: Topology,
    counts: Mapping[int, Mapping[int, int] | list[int]],
    want: dict[int, int],
    nodes: tuple[int, ...],
) -> tuple[int, int] | None:
    """The smallest level, then tightest unit (the first such around ``nodes``), that holds the gang."""
    for level, level_counts in counts.items():
        best: int | None = None
        unit_pool = t.unit_pool[level]
        for u in _units_of(t, level, nodes):
            need = want.get(unit_pool[u])
            if (
                need is not None
                and level_counts[u] >= need
                and (best is None or level_counts[u] < level_counts[best])
            ):
                best = u
        if best is not None:
            return level, best
    return None


def _units_of(t: Topology, level: int, nodes: tuple[int, ...]) -> dict[int, None]:
    """The units of ``level`` around ``nodes``, each once, in the order of its first node."""
    return dict.fromkeys(map(t.node_unit[level].__getitem__, nodes))
