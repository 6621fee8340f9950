"""The discrete-event engine: a virtual clock drives the very same ``scheduler.schedule``.

Events, in order at equal times: finish, repair, failure, submit, sample, cycle. A cycle runs
every ``cycle_s`` of simulated time when something changed since the last one (Slurm's
``bf_interval`` default is 30 s). The engine owns the state the production dispatch loop keeps
in the database: the capacity, the queue, the running jobs, usage for fair share.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.backfill import ReservationMemo
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.cycle import duration_s, schedule
from pnyx.scheduler.fairshare import Shares, Span, Usage, fold, spans_of
from pnyx.scheduler.model import Decisions, JobDoesNotFit, Placement, Running
from pnyx.scheduler.policy import Policy
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import Snapshot
from pnyx.scheduler.topology import Topology
from pnyx.sim.failures import FailureModel, NodeHistory
from pnyx.sim.metrics import Recorder, Series
from pnyx.sim.traces import TraceJob

FINISH, REPAIR, FAIL, SUBMIT, SAMPLE, CYCLE = range(6)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    policy: Policy
    shares: Shares
    days: float
    seed: int = 0
    cycle_s: float = 30.0
    sample_s: float = 3_600.0
    failures: FailureModel = field(default_factory=FailureModel)


@dataclass(frozen=True, slots=True, kw_only=True)
class Start:
    """A facility's state at time 0 (``pnyx simulate --from-db``): its finished work's decayed usage,
    and the jobs running now (started at or before 0) with the seconds of run each has left."""

    history: Usage = field(default_factory=Usage)
    running: tuple[tuple[Running, float], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SimResult:
    policy: str
    metrics: dict[str, float | int]
    series: Series
    shares: dict[str, tuple[float, float]]
    jct_s: list[float]


class Simulation:
    def __init__(
        self,
        topology: Topology,
        trace: list[TraceJob],
        config: SimConfig,
        on_progress: Callable[[float], None] | None = None,
        on_decisions: Callable[[float, Decisions], None] | None = None,
        *,
        start: Start | None = None,
    ) -> None:
        self.topology, self.config, self.on_progress = topology, config, on_progress
        self.on_decisions = on_decisions  # each cycle's decisions (the twin-is-production test)
        self.horizon = config.days * 86_400
        self.rng = random.Random(config.seed)
        self.capacity = Capacity(topology)
        self.queue = Queue()
        self.running: dict[str, Running] = {}
        self.remaining: dict[str, float] = {}
        self.actual: dict[str, TraceJob] = {t.job.id: t for t in trace}
        self.started: set[str] = set()
        self.epoch: dict[str, int] = {}
        self.node_jobs: dict[int, dict[str, None]] = {}
        self.history = Usage()  # finished work's decayed usage, as of the last cycle
        self.finished: list[Span] = []  # work that stopped since the last cycle, folded in at the next
        self.held: dict[str, Span] = {}  # each running job's span, made once at its start
        self.usage = Usage()
        self.memo = ReservationMemo()  # reservations carried across cycles (safe reuse, see backfill)
        self.node_history = NodeHistory()
        self.rec = Recorder(accelerators=topology.accelerators, entitlements=dict(config.shares.members))
        self.events: list[tuple[float, int, int, str, int]] = []
        self.seq = itertools.count()
        self.dirty = False
        self.processed = 0
        self.cumulative = list(itertools.accumulate(topology.node_cap))
        for t in trace:  # jobs already waiting (submitted before 0) join the queue at 0
            if t.job.submit_s < self.horizon:
                self.push(max(0.0, t.job.submit_s), SUBMIT, t.job.id)
        if start is not None:
            self.resume(start)
        self.push(0.0, CYCLE)
        self.push(config.sample_s, SAMPLE)
        if config.failures.enabled:
            self.next_failure(0.0)

    def resume(self, start: Start) -> None:
        """Begin from a facility's state: its history, and its running jobs with the run they have left."""
        self.history = start.history
        for ran, left_s in start.running:
            self.remaining[ran.job.id] = left_s
            self.running[ran.job.id] = ran
            self.held[ran.job.id] = spans_of([ran])[0]
            self.capacity.take(ran.placement)
            for n in ran.placement.nodes:
                self.node_jobs.setdefault(n, {})[ran.job.id] = None
            self.rec.busy += ran.placement.accelerators
            self.started.add(ran.job.id)
            self.epoch[ran.job.id] = 1
            self.push(left_s, FINISH, ran.job.id, 1)

    def push(self, at: float, kind: int, key: str = "", epoch: int = 0) -> None:
        heapq.heappush(self.events, (at, kind, next(self.seq), key, epoch))

    def run(self) -> SimResult:
        began = time.perf_counter()
        handlers = {
            FINISH: self.on_finish,
            REPAIR: self.on_repair,
            FAIL: self.on_failure,
            SUBMIT: self.on_submit,
            SAMPLE: self.on_sample,
            CYCLE: self.on_cycle,
        }
        while self.events and self.events[0][0] <= self.horizon:
            at, kind, _seq, key, epoch = heapq.heappop(self.events)
            self.rec.advance(at)
            handlers[kind](at, key, epoch)
            self.processed += 1
        self.rec.advance(self.horizon)
        for r in self.running.values():
            self.rec.allocate(r.job.member, r.placement.accelerators, self.horizon - max(0.0, r.start_s))
        wall = time.perf_counter() - began
        return SimResult(
            policy=self.config.policy.name,
            metrics=self.rec.summary(horizon_s=self.horizon, wall_s=wall, events=self.processed),
            series=self.rec.series,
            shares=self.rec.shares(),
            jct_s=self.rec.jct_s,
        )

    # events
    def on_submit(self, at: float, key: str, _epoch: int) -> None:
        trace_job = self.actual[key]
        self.rec.submitted += 1
        try:
            check_fits(trace_job.job, self.topology)
        except JobDoesNotFit:
            self.rec.rejected += 1
            return
        self.remaining[key] = trace_job.runtime_s
        self.queue.add(trace_job.job)
        self.dirty = True

    def on_cycle(self, at: float, _key: str, _epoch: int) -> None:
        self.push(at + self.config.cycle_s, CYCLE)
        if not self.dirty:
            return
        self.dirty = False
        self.usage = self.fair_usage(at)
        snapshot = Snapshot(
            capacity=self.capacity,
            running=self.running,
            shares=self.config.shares,
            usage=self.usage,
            memo=self.memo,
        )
        decisions = schedule(snapshot, self.queue, at, self.config.policy)
        if self.on_decisions is not None:
            self.on_decisions(at, decisions)
        for p in decisions.preemptions:
            self.rec.preemptions += 1
            self.stop(p.job_id, at, lost_s=p.lost_s, failed=False)
        for r in decisions.rejections:
            self.queue.remove(r.job_id)
            self.rec.rejected += 1
        for placement in decisions.starts:
            self.start(placement, at)

    def fair_usage(self, at: float) -> Usage:
        """The same fold as the dispatcher's (``scheduler.fairshare.fold``): the work finished since
        the last cycle into the history, then the work running now into this cycle's usage."""
        half_life = self.config.shares.half_life_s
        self.history, self.finished = fold(self.history, self.finished, at, half_life), []
        return fold(self.history, self.held.values(), at, half_life)

    def on_finish(self, at: float, key: str, epoch: int) -> None:
        if key not in self.running or self.epoch.get(key) != epoch:
            return  # stale: the run it belonged to was preempted or failed
        job = self.running[key].job
        self.release(key, at)
        self.rec.completed += 1
        self.rec.jct_s.append(at - job.submit_s)
        self.dirty = True

    def on_failure(self, at: float, _key: str, _epoch: int) -> None:
        self.next_failure(at)
        point = self.rng.random() * self.cumulative[-1]
        node = bisect.bisect_right(self.cumulative, point)
        if self.capacity.down[node]:
            return
        for job_id in list(self.node_jobs.get(node, {})):
            self.rec.interruptions += 1
            self.stop(job_id, at, lost_s=self.running[job_id].lost_work_s(at), failed=True)
        self.capacity.fail(node)
        self.rec.failures += 1
        model = self.config.failures
        drained = self.node_history.record(node, at, model)
        back = model.drain_s if drained else self.rng.expovariate(1 / model.repair_mean_s)
        self.push(at + back, REPAIR, str(node))

    def on_repair(self, at: float, key: str, _epoch: int) -> None:
        self.capacity.repair(int(key))
        self.dirty = True

    def on_sample(self, at: float, _key: str, _epoch: int) -> None:
        self.rec.sample(at, len(self.queue))
        self.push(at + self.config.sample_s, SAMPLE)
        if self.on_progress is not None:
            self.on_progress(at)

    def next_failure(self, now: float) -> None:
        rate = self.config.failures.rate_per_accelerator_s * self.topology.accelerators
        self.push(now + self.rng.expovariate(rate), FAIL)

    # state changes
    def start(self, placement: Placement, at: float) -> None:
        job = self.queue.remove(placement.job_id)
        speed = self.topology.pools[placement.pool].speed_factor
        ran = Running(job=job, placement=placement, start_s=at, end_s=at + duration_s(job, speed))
        self.running[job.id] = ran
        self.held[job.id] = spans_of([ran])[0]
        self.capacity.take(placement)
        for n in placement.nodes:
            self.node_jobs.setdefault(n, {})[job.id] = None
        self.rec.busy += placement.accelerators
        if job.id not in self.started:
            self.started.add(job.id)
            self.rec.wait_s.append(at - job.submit_s)
        self.epoch[job.id] = self.epoch.get(job.id, 0) + 1
        self.push(
            at + duration_s(replace(job, estimate_s=self.remaining[job.id]), speed),
            FINISH,
            job.id,
            self.epoch[job.id],
        )

    def release(self, job_id: str, at: float) -> Running:
        ran = self.running.pop(job_id)
        del self.held[job_id]
        self.capacity.give(ran.placement)
        for n in ran.placement.nodes:
            del self.node_jobs[n][job_id]
        accelerators = ran.placement.accelerators
        self.rec.busy -= accelerators
        self.finished += spans_of([ran], at)
        self.rec.allocate(ran.job.member, accelerators, at - max(0.0, ran.start_s))
        return ran

    def stop(self, job_id: str, at: float, *, lost_s: float, failed: bool) -> None:
        """Preempted or hit by a failure: keep the progress up to the last checkpoint, requeue (the
        estimate stays the submitted one: the dispatcher does not know the progress either)."""
        ran = self.release(job_id, at)
        speed = (
            self.topology.pools[ran.placement.pool].speed_factor if ran.job.accelerator_type is None else 1.0
        )
        saved = max(0.0, (at - ran.start_s) - lost_s) * speed
        self.remaining[job_id] = max(1.0, self.remaining[job_id] - saved)
        lost_acc_s = lost_s * ran.placement.accelerators
        if failed:
            self.rec.lost_failures_acc_s += lost_acc_s
        else:
            self.rec.lost_preemptions_acc_s += lost_acc_s
        self.queue.add(ran.job)  # its estimate as submitted, as the dispatcher requeues it
        self.dirty = True
