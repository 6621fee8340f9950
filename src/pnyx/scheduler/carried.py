"""The carried capacity: what a snapshot builds from blank, kept from one cycle to the next.

``build_snapshot`` copies the blank ledger, fails the down nodes (in ascending order) and takes the
running jobs' placements in order (``Capacity.take_all``). A caller deciding cycle after cycle (the
audit replay) meets mostly the same running jobs each time: a ``CarriedCapacity`` keeps that ledger and
changes only the nodes of the placements that left or came and of the nodes that failed or came
back, and ends in the very state a build from blank leaves: the same counters, and the units of
every bucket in the same order (best fit takes the first unit of a bucket, so the order decides).

Why that order can be had without the build: a bucket holds the units no change reached, in the
blank's order, then the others in the order of their last change. Each change is named by a key of
its own, whatever the other jobs: ``(1, node)`` for a failed node, ``(2, submit time, job id, index
in the placement)`` for a node a running job takes. When the running jobs come in the usual order
(by submit time, then id) the keys rise as a build meets the changes, so a unit's place is the
largest key among its nodes' last changes (for wholly free nodes: their last change of wholeness),
and a node's changes depend only on the placements on it. ``follow`` says whether the order held.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

from pnyx.scheduler.capacity import Buckets, Capacity
from pnyx.scheduler.fairshare import Span, spans_of
from pnyx.scheduler.model import Running
from pnyx.scheduler.topology import FACILITY, INDEXED_LEVELS

Key = tuple[Any, ...]  # (0, place in the blank bucket) | (1, node) | (2, submit s, job id, index)
Touch = tuple[Key, bool, int]  # a placement on a node: (key, exclusive, count)
ACC, WHOLE = 0, 1  # free accelerators, wholly free nodes


class CarriedCapacity:
    """The ledger of the running jobs and failed nodes ``follow`` was last given. A cycle may work on
    ``capacity`` itself (its journal and rollback leave the counters as they were) if ``reorder``
    is called after it: a rollback leaves the units it moved at the end of their buckets."""

    __slots__ = (
        "blank",
        "blank_keys",
        "capacity",
        "crowded",
        "down",
        "last",
        "listed",
        "placed",
        "sort",
        "spanned",
        "touches",
    )

    def __init__(self, blank: Capacity) -> None:
        """``blank``: the topology's capacity with nothing taken (``capacity.blank_of``), never changed."""
        self.blank, self.capacity = blank, blank.copy()
        self.placed: dict[str, Running] = {}  # job id -> the job as its placement was taken
        self.down: frozenset[int] = frozenset()
        self.touches: dict[int, list[Touch]] = {}  # node -> the placements on it, by key
        n = len(blank.free)
        self.last: tuple[list[Key | None], ...] = ([None] * n, [None] * n)  # [kind][node]: last change
        units = [len(counts) for counts in blank.acc]
        self.blank_keys = (_placed_in(blank.bucket_acc, units), _placed_in(blank.bucket_whole, units))
        self.sort = tuple([keys[:] for keys in kind] for kind in self.blank_keys)  # [kind][level][unit]
        self.listed = tuple(  # [kind][level][pool][count]: each bucket's units as a list, in order
            [[[list(b) for b in pool] for pool in level] for level in buckets]
            for buckets in (blank.bucket_acc, blank.bucket_whole)
        )
        self.crowded: set[int] = set()  # nodes where the queue-ahead layers would not fit every job
        self.spanned: dict[str, tuple[Running, Span]] = {}  # job id -> its job and fair-share span

    def follow(self, running: Sequence[Running], down: Iterable[int], *, usual: bool = False) -> bool:
        """Change the ledger to ``running`` (the started jobs, in order) over the failed nodes ``down``.
        True when ``build_snapshot`` of them builds this very ledger (their keys rise in order) and
        ``ahead.layers`` puts each of them on the hardware now (no node over-full, none down in the
        inventory). A node or time a build cannot read leaves the ledger as it was: False.
        ``usual``: the caller sorted ``running`` by submit time, then id (else it is checked)."""
        failed = frozenset(down)
        came = self._came(running)
        if came is None or not all(0 <= n < len(self.blank.free) for n in failed):
            return False
        nodes = self._left(running, came) | (failed ^ self.down)
        self.down = failed
        for r in came:
            nodes.update(self._touch(r, add=True))
            self.placed[r.job.id] = r
        self._settle(nodes)
        return not self.crowded and (usual or _rising(running))

    def spans(self, running: Sequence[Running]) -> list[Span]:
        """``fairshare.spans_of(running)``: each job's span kept while its job object is the same."""
        spanned, out = self.spanned, []
        for r in running:
            kept = spanned.get(r.job.id)
            if kept is None or kept[0] is not r:
                kept = spanned[r.job.id] = (r, spans_of((r,))[0])
            out.append(kept[1])
        if len(spanned) > 2 * len(running) + 64:  # forget the jobs that left, now and then
            self.spanned = {r.job.id: spanned[r.job.id] for r in running}
        return out

    def reorder(self) -> None:
        """Put back in their order the buckets of the units the last rollback moved (a cycle's
        trial work, undone), as ``follow`` left them."""
        cap, t = self.capacity, self.blank.topology
        nodes = {n for n, _ in cap.undone}
        cap.undone = []
        dirty: set[tuple[int, int, int, int]] = set()
        for lv in INDEXED_LEVELS:
            for u in {t.node_unit[lv][n] for n in nodes}:
                pool = t.unit_pool[lv][u]
                dirty.update(((ACC, lv, pool, cap.acc[lv][u]), (WHOLE, lv, pool, cap.whole[lv][u])))
        self._sort(dirty)

    def _sort(self, dirty: set[tuple[int, int, int, int]]) -> None:
        """The buckets anew from their lists (kept in order)."""
        for kind, lv, pool, count in dirty:
            by_count = self._buckets(kind)[lv][pool]
            if _bucketed(count, by_count):
                by_count[count] = dict.fromkeys(self.listed[kind][lv][pool][count])

    def _came(self, running: Sequence[Running]) -> list[Running] | None:
        """The running jobs not placed as they are now (the same job object, or the same placement
        and submit time); None where one has a time or node a build cannot read (not finite,
        outside the topology), or where one job runs twice (a build keeps one of them)."""
        size, came, placed = len(self.blank.free), [], self.placed
        if len({r.job.id for r in running}) != len(running):
            return None
        for r in running:
            held = placed.get(r.job.id)
            if held is r:
                continue
            if held is not None and held.placement == r.placement and held.job.submit_s == r.job.submit_s:
                placed[r.job.id] = r  # the same changes: the next look finds this very object
                continue
            if not math.isfinite(r.job.submit_s) or not all(0 <= n < size for n in r.placement.nodes):
                return None
            came.append(r)
        return came

    def _left(self, running: Sequence[Running], came: list[Running]) -> set[int]:
        """Take out the placements whose job left or is placed anew; their nodes."""
        nodes: set[int] = set()
        if not came and len(running) == len(self.placed):
            return nodes  # each running job was found placed: none left
        staying, replaced = {r.job.id for r in running}, {r.job.id for r in came}
        for job_id in [j for j in self.placed if j not in staying or j in replaced]:
            nodes.update(self._touch(self.placed.pop(job_id), add=False))
        return nodes

    def _touch(self, r: Running, *, add: bool) -> tuple[int, ...]:
        placement, touches = r.placement, self.touches
        exclusive, submit_s, job_id = placement.exclusive, r.job.submit_s, r.job.id
        for i, (n, c) in enumerate(zip(placement.nodes, placement.counts, strict=True)):
            touch = ((2, submit_s, job_id, i), exclusive, c)
            if add:
                bisect.insort(touches.setdefault(n, []), touch)
                continue
            touches[n].remove(touch)
            if not touches[n]:
                del touches[n]
        return placement.nodes

    def _settle(self, nodes: set[int]) -> None:
        """The nodes' counts and keys anew, then their units moved to their place in the buckets."""
        cap, t = self.capacity, self.blank.topology
        units = [(lv, u) for lv in INDEXED_LEVELS for u in {t.node_unit[lv][n] for n in nodes}]
        before = [(cap.acc[lv][u], cap.whole[lv][u]) for lv, u in units]
        for n in nodes:
            self._node(n)
        moving: list[tuple[int, int, int, int, Key]] = []  # (kind, level, unit, count, key)
        for (lv, u), counts in zip(units, before, strict=True):
            for kind, now in ((ACC, cap.acc[lv][u]), (WHOLE, cap.whole[lv][u])):
                key = self._unit_key(kind, lv, u)
                if (counts[kind], self.sort[kind][lv][u]) != (now, key):
                    self._out(kind, lv, u, counts[kind])
                    moving.append((kind, lv, u, now, key))
        dirty: set[tuple[int, int, int, int]] = set()
        for kind, lv, u, _count_now, key in moving:
            self.sort[kind][lv][u] = key
        for kind, lv, u, now, _key in moving:
            self._in(kind, lv, u, now, dirty)
        self._sort(dirty)

    def _node(self, n: int) -> None:
        """One node as a build leaves it: its free count (and the counters above it), its keys."""
        cap, blank = self.capacity, self.blank
        free, self.last[ACC][n], self.last[WHOLE][n] = self._changes(n)
        cap.down[n] = blank.down[n] or n in self.down
        if self._fits(n):
            self.crowded.discard(n)
        else:
            self.crowded.add(n)
        if free != cap.free[n]:
            _count(cap, n, free)

    def _changes(self, n: int) -> tuple[int, Key | None, Key | None]:
        """The node's free count after a build, and the keys of its last change and last change of
        wholeness (``fail`` when down, else its placements' takes in key order, as ``take_all``)."""
        blank, cap = self.blank.free[n], self.blank.topology.node_cap[n]
        if n in self.down:
            fail = (1, n)
            return 0, fail if blank else None, fail if (cap == 0) != (blank == cap) else None
        free, last, whole = blank, None, None
        if self.blank.down[n]:
            return free, last, whole
        for key, exclusive, count in self.touches.get(n, ()):
            new = 0 if exclusive else free - count
            if new != free:
                last = key
                whole = key if (new == cap) != (free == cap) else whole
                free = new
        return free, last, whole

    def _fits(self, n: int) -> bool:
        """Every placement on the node fits it, one after another, as the queue-ahead layers read
        them (from the inventory's free count, down nodes fitting nothing)."""
        touches = self.touches.get(n)
        if not touches:
            return True
        free = self.blank.free[n]
        if self.blank.down[n]:
            return False
        if len(touches) == 1 and touches[0][1]:
            return free >= self.blank.topology.node_cap[n]
        return not any(exclusive for _, exclusive, _ in touches) and sum(c for _, _, c in touches) <= free

    def _unit_key(self, kind: int, lv: int, u: int) -> Key:
        last = self.last[kind]
        keys = [k for n in self.blank.topology.unit_nodes[lv][u] if (k := last[n]) is not None]
        return max(keys) if keys else self.blank_keys[kind][lv][u]

    def _buckets(self, kind: int) -> Buckets:
        return self.capacity.bucket_acc if kind == ACC else self.capacity.bucket_whole

    def _out(self, kind: int, lv: int, u: int, count: int) -> None:
        """Take the unit out of its bucket and its list (found by its key, which is not changed yet)."""
        pool = self.blank.topology.unit_pool[lv][u]
        by_count = self._buckets(kind)[lv][pool]
        if _bucketed(count, by_count):
            del by_count[count][u]
            listed, sort = self.listed[kind][lv][pool][count], self.sort[kind][lv]
            del listed[bisect.bisect_left(listed, sort[u], key=sort.__getitem__)]

    def _in(self, kind: int, lv: int, u: int, count: int, dirty: set[tuple[int, int, int, int]]) -> None:
        """Put the unit in its place in its bucket's list, and at the end of the bucket: the bucket is
        made anew from the list afterwards if that is not its place."""
        pool = self.blank.topology.unit_pool[lv][u]
        by_count = self._buckets(kind)[lv][pool]
        if not _bucketed(count, by_count):
            return
        listed, sort = self.listed[kind][lv][pool][count], self.sort[kind][lv]
        if listed and sort[listed[-1]] > sort[u]:
            bisect.insort(listed, u, key=sort.__getitem__)
            dirty.add((kind, lv, pool, count))
        else:
            listed.append(u)
        by_count[count][u] = None


def _count(cap: Capacity, n: int, new: int) -> None:
    """``set_free`` without the buckets: the node's free count and the counters of its units."""
    t, old = cap.topology, cap.free[n]
    d, w = new - old, (new == t.node_cap[n]) - (old == t.node_cap[n])
    cap.free[n] = new
    cap.total += d
    for lv in range(FACILITY + 1):
        u = t.node_unit[lv][n]
        cap.acc[lv][u] += d
        if w:
            cap.whole[lv][u] += w


def _bucketed(count: int, by_count: list[dict[int, None]]) -> bool:
    """A unit with that count sits in a bucket. Counts past the buckets come only from over-full
    nodes (``follow`` then says False), which a build refuses (IndexError); counts below zero read
    the buckets from the end, as a build does."""
    return count != 0 and -len(by_count) <= count < len(by_count)


def _rising(running: Sequence[Running]) -> bool:
    """The jobs in the usual order: by submit time, then id (their keys rise)."""
    for a, b in itertools.pairwise(r.job for r in running):
        if not (a.submit_s < b.submit_s or (a.submit_s == b.submit_s and a.id < b.id)):
            return False
    return True


def _placed_in(buckets: Buckets, units: Sequence[int]) -> list[list[Key]]:
    """[level][unit] -> (0, the unit's place in its bucket) in the blank ledger (units of no bucket: 0)."""
    out: list[list[Key]] = []
    for lv in INDEXED_LEVELS:
        keys: list[Key] = [(0, 0)] * units[lv]
        for pool in buckets[lv]:
            for bucket in pool:
                for i, u in enumerate(bucket):
                    keys[u] = (0, i)
        out.append(keys)
    return out
