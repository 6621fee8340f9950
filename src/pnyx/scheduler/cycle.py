"""One scheduling cycle: a numbered pipeline over an immutable snapshot (after Kueue).

1. heads      - waiting jobs in policy order: aged jobs first (bounded wait), then priority class,
                then hierarchical fair share, then submit order (or plain submit order for FIFO).
2. snapshot   - the cycle works on the snapshot's capacity under a journal and rolls it back at the
                end, so the caller's snapshot is unchanged; reservations work on a copy.
3. nominate   - reject jobs that can never fit; skip shapes already known not to fit this cycle.
4. admit      - place the gang (topology-aware best fit); a start decision.
5. preempt    - a blocked urgent or entitled job releases preemptible victims, least lost work first.
6. reserve    - a blocked job gets a reservation (EASY: the first one; conservative: several);
                jobs behind it backfill only where they cannot delay it. Without backfill the first
                blocked job ends the cycle (strict FIFO).
7. requeue    - everything not started stays queued; victims go back to the queue (the caller).

The cycle stops early once no capacity is left and nothing further in the order could preempt, and
after ``policy.depth`` jobs (aged jobs are always looked at), like Slurm's ``bf_max_job_test``.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from pnyx.scheduler.admission import check_fits, largest_gang
from pnyx.scheduler.backfill import remembered, reserve
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.fairshare import order_groups
from pnyx.scheduler.held import HeldView
from pnyx.scheduler.model import (
    Decisions,
    Job,
    JobDoesNotFit,
    Placement,
    Preemption,
    PriorityClass,
    Rejection,
    Reservation,
    Running,
)
from pnyx.scheduler.placement import find_placement
from pnyx.scheduler.policy import Backfill, Order, Policy
from pnyx.scheduler.preemption import VICTIM_CLASSES, candidates, could_free_enough, preempt
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import Snapshot

Shape = tuple[str | None, int, bool, bool]  # (type, label, cross-site, on the reserved-aware ledger)


def schedule(snapshot: Snapshot, queue: Queue, now: float, policy: Policy) -> Decisions:
    """Decide which waiting jobs start where, which running jobs are preempted, which are rejected."""
    cycle = _Cycle(snapshot, queue, now, policy)
    snapshot.capacity.begin()
    try:
        return cycle.run()
    finally:
        snapshot.capacity.rollback()


def duration_s(job: Job, speed_factor: float) -> float:
    """Estimated run time on a pool: typed jobs' estimates are for their type, untyped ones scale."""
    return job.estimate_s if job.accelerator_type is not None else job.estimate_s / speed_factor


class _Cycle:
    def __init__(self, snapshot: Snapshot, queue: Queue, now: float, policy: Policy) -> None:
        self.snapshot, self.queue, self.now, self.policy = snapshot, queue, now, policy
        self.topology = snapshot.topology
        self.ledger: Capacity = snapshot.capacity  # journaled by schedule()
        self.held = HeldView(self.ledger)  # the ledger as long jobs see it: reserved nodes held
        self.shadow = math.inf  # earliest reservation start
        self.running: dict[str, Running] = dict(snapshot.running)
        self.by_end: list[Running] | None = None
        self.failed: dict[Shape, int] = {}  # smallest gang of a shape that did not fit
        self.preempt_failed: dict[Shape, int] = {}
        self.victim_count = Counter(r.job.priority_class for r in self.running.values())
        self.victim_cache: dict[tuple[PriorityClass, tuple[int, ...]], list[Running]] = {}
        self.pool_cache: dict[tuple[str | None, int], tuple[int, ...]] = {}
        self.largest: dict[tuple[str | None, int, bool, bool], int] = {}
        self.kinds: dict[tuple[str | None, int, bool], _Kind] = {}
        self.reservation_limit = policy.reservation_limit
        self.no_backfill = policy.backfill is Backfill.NONE
        self.in_aged = False
        self.stopped = False
        self.starts: list[Placement] = []
        self.preemptions: list[Preemption] = []
        self.rejections: list[Rejection] = []
        self.reservations: list[Reservation] = []
        self.considered = 0
        self.attempts = 0
        self.remembered_ids: set[str] = set()

    def run(self) -> Decisions:
        for job in self.heads():
            if self.ledger.total == 0 and not self.can_preempt(job):
                if self.in_aged:
                    continue
                break
            self.considered += 1
            self.nominate(job)
            if self.stopped or (self.considered >= self.policy.depth and not self.in_aged):
                break
        memo = self.snapshot.memo
        if memo is not None:  # forget reservations this cycle did not make or confirm
            for job_id in [j for j in memo.entries if j not in self.remembered_ids]:
                del memo.entries[job_id]
            for job_id in [j for j in memo.far if j not in self.remembered_ids]:
                del memo.far[job_id]
        return Decisions(
            starts=tuple(self.starts),
            preemptions=tuple(self.preemptions),
            rejections=tuple(self.rejections),
            reservations=tuple(self.reservations),
            considered=self.considered,
        )

    # 1. heads
    def heads(self) -> Iterator[Job]:
        if self.policy.order is Order.FIFO:
            yield from self.queue.in_submit_order()
            return
        groups = self.queue.groups()
        aged = self.aged(groups.values())
        self.in_aged = True
        yield from aged
        self.in_aged = False
        aged_ids = {j.id for j in aged}
        snap = self.snapshot
        for group in order_groups(groups, snap.shares, snap.usage):
            for job in groups[group].values():
                if job.id not in aged_ids:
                    yield job

    def aged(self, groups: Iterable[Mapping[str, Job]]) -> list[Job]:
        if math.isinf(self.policy.aging_s):
            return []
        cutoff = self.now - self.policy.aging_s
        out: list[Job] = []
        for jobs in groups:
            for job in jobs.values():
                if job.submit_s > cutoff:
                    break
                out.append(job)
        out.sort(key=lambda j: (j.submit_s, j.id))
        return out

    # 3. nominate
    def nominate(self, job: Job) -> None:
        kind_key = (job.accelerator_type, int(job.label), job.allow_cross_site)
        kind = self.kinds.get(kind_key)
        if kind is None:
            pools = self.pools(job)
            kind = self.kinds[kind_key] = _Kind(pools, self.largest_for(job, pools), self.min_speed(pools))
        pools = kind.pools
        if job.accelerators > kind.largest:
            self.reject(job)
            return
        long = False
        if self.held.nodes:
            worst = job.estimate_s if job.accelerator_type is not None else job.estimate_s / kind.min_speed
            long = self.now + worst > self.shadow
        shape = (job.accelerator_type, kind_key[1], job.allow_cross_site, long)
        if job.accelerators < self.failed.get(shape, math.inf):
            # The held view is a subset of the real ledger: try the real one first, then the held view
            # (``scheduler.held``: counts read off the ledger; its copy built only to place a job).
            placement = self.admit(self.ledger, job, pools)
            if placement is not None and long and not self.held.nodes.isdisjoint(placement.nodes):
                placement = self.admit_held(job, pools)
            if placement is not None:
                self.start(job, placement)
                return
            self.failed[shape] = job.accelerators
        if not self.try_preempt(job, pools, long, shape) and (
            self.no_backfill or len(self.reservations) < self.reservation_limit
        ):
            self.blocked(job, pools)

    def min_speed(self, pools: tuple[int, ...]) -> float:
        return min((self.topology.pools[p].speed_factor for p in pools), default=1.0)

    def pools(self, job: Job) -> tuple[int, ...]:
        key = (job.accelerator_type, int(job.label))
        if key not in self.pool_cache:
            self.pool_cache[key] = self.topology.pools_for(job.accelerator_type, job.label)
        return self.pool_cache[key]

    def largest_for(self, job: Job, pools: tuple[int, ...]) -> int:
        key = (job.accelerator_type, int(job.label), job.exclusive, job.allow_cross_site)
        if key not in self.largest:
            self.largest[key] = largest_gang(
                self.topology, pools, exclusive=job.exclusive, cross_site=job.allow_cross_site
            )
        return self.largest[key]

    def reject(self, job: Job) -> None:
        try:
            check_fits(job, self.topology)
        except JobDoesNotFit as exc:
            self.rejections.append(Rejection(job_id=job.id, code=exc.code, reason=exc.message))
            return
        self.rejections.append(Rejection(job_id=job.id, code="job_too_large", reason="does not fit"))

    # 4. admit
    def admit(self, ledger: Capacity, job: Job, pools: tuple[int, ...]) -> Placement | None:
        if not ledger.fits_somewhere(pools, job.accelerators, job.exclusive):
            return None
        return find_placement(ledger, job, pools)

    def admit_held(self, job: Job, pools: tuple[int, ...]) -> Placement | None:
        """``admit`` on the held view, its copy built only when the job could fit there at all."""
        if not self.held.fits(pools, job.accelerators, job.exclusive):
            return None
        return find_placement(self.held.capacity(), job, pools)

    def start(self, job: Job, placement: Placement) -> None:
        self.held.take(placement)  # on the ledger, and the held view
        speed = self.topology.pools[placement.pool].speed_factor
        end = self.now + duration_s(job, speed)
        running = Running(job=job, placement=placement, start_s=self.now, end_s=end)
        self.running[job.id] = running
        self.victim_count[job.priority_class] += 1
        if self.by_end is not None:
            bisect.insort(self.by_end, running, key=_end_key)
        self.starts.append(placement)

    # 5. preempt
    def can_preempt(self, job: Job) -> bool:
        if not self.policy.preemption:
            return False
        return any(self.victim_count[c] > 0 for c in VICTIM_CLASSES[job.priority_class])

    def try_preempt(self, job: Job, pools: tuple[int, ...], long: bool, shape: Shape) -> bool:
        if self.attempts >= self.policy.preemption_attempts:
            return False
        if job.accelerators >= self.preempt_failed.get(shape, math.inf) or not self.can_preempt(job):
            return False
        self.attempts += 1
        outcome = self.preempted(job, pools, long)
        if outcome is None:
            self.preempt_failed[shape] = job.accelerators
            return False
        chosen, placement = outcome
        for victim in chosen:
            self.evict(victim, job)
        self.failed.clear()  # capacity came back: shapes that failed may fit now
        self.start(job, placement)
        return True

    def preempted(
        self, job: Job, pools: tuple[int, ...], long: bool
    ) -> tuple[list[Running], Placement] | None:
        """``preempt`` on the ledger, or for a long job on the held view (released on both)."""
        victims = self.victims(job, pools)[: self.policy.max_victims]
        if long and not could_free_enough(self.topology, self.held.free_in(pools), job, victims):
            return None  # as ``preempt`` finds on the held view, without building its copy
        target = self.held.capacity() if long else self.ledger
        return preempt(self.held.give, target, job, pools, victims)

    def victims(self, job: Job, pools: tuple[int, ...]) -> list[Running]:
        key = (job.priority_class, pools)
        if key not in self.victim_cache:
            started = {p.job_id for p in self.starts}
            found = candidates(job, pools, self.running.values(), self.now)
            self.victim_cache[key] = [v for v in found if v.job.id not in started]
        return self.victim_cache[key]

    def evict(self, victim: Running, by: Job) -> None:
        self.victim_cache.clear()
        del self.running[victim.job.id]
        self.victim_count[victim.job.priority_class] -= 1
        if self.by_end is not None:
            # (end, id) keys are unique: find the victim by bisection, not by an O(n) equality scan
            i = bisect.bisect_left(self.by_end, _end_key(victim), key=_end_key)
            if i < len(self.by_end) and self.by_end[i] is victim:
                del self.by_end[i]
        lost = victim.lost_work_s(self.now)
        self.preemptions.append(Preemption(job_id=victim.job.id, by=by.id, lost_s=lost))

    # 6. reserve
    def blocked(self, job: Job, pools: tuple[int, ...]) -> None:
        if self.policy.backfill is Backfill.NONE:
            self.stopped = True
            return
        if len(self.reservations) >= self.reservation_limit:
            return
        memo = self.snapshot.memo
        reuse_s = self.policy.reservation_reuse_s
        capped = not self.in_aged and not math.isinf(self.policy.max_drain_s)
        if capped and memo is not None and self.now - memo.far.get(job.id, -math.inf) < reuse_s:
            self.remembered_ids.add(job.id)
            return  # recently found too far off: no reservation, and no replay either
        base = self.held.capacity() if self.held.nodes else self.ledger
        reservation = None
        if memo is not None:
            reservation = remembered(memo, base, job, self.running, self.now, reuse_s)
        if reservation is None:
            reservation = reserve(base, job, pools, self.ends(), self.now)
            if reservation is None:
                return
            if memo is not None:
                memo.entries[job.id] = (job, reservation, self.now)
        if memo is not None:
            self.remembered_ids.add(job.id)
        if capped and reservation.start_s - self.now > self.policy.max_drain_s:
            if memo is not None:
                memo.far[job.id] = self.now
                memo.entries.pop(job.id, None)
            return
        self.held.hold(reservation.nodes)
        self.reservations.append(reservation)
        self.shadow = min(self.shadow, reservation.start_s)

    def ends(self) -> list[Running]:
        if self.by_end is None:
            self.by_end = sorted(self.running.values(), key=_end_key)
        return self.by_end


class _Kind:
    """What a cycle needs to know about jobs of one (type, label, cross-site): computed once."""

    __slots__ = ("largest", "min_speed", "pools")

    def __init__(self, pools: tuple[int, ...], largest: int, min_speed: float) -> None:
        self.pools, self.largest, self.min_speed = pools, largest, min_speed


def _end_key(r: Running) -> tuple[float, str]:
    return (r.end_s, r.job.id)
