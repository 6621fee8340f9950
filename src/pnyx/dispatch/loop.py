"""The dispatch loop: reconcile with the engines, run one scheduling cycle, hand decisions over.

One cycle:
1. lead      - act only while holding the leadership (one dispatcher per database).
2. reconcile - every job holding accelerators is checked against its engine: a placed job the
               engine has not got yet is submitted (or found: submission is idempotent on the
               attempt's key, so a crash between decision and submission neither loses nor doubles
               a job); finished jobs are closed and their usage recorded; cancels are passed on.
3. schedule  - a snapshot from the database goes through the very scheduler the simulator drives.
4. apply     - preemptions (the engine stops the victim, which may checkpoint on SIGTERM; the victim
               is requeued as a new attempt), rejections, then starts: the decision is committed
               first (DISPATCHING), then submitted, then confirmed.
The database stays authoritative: an engine's answer only moves a job through its transition table.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from pnyx.core.clock import Clock
from pnyx.core.errors import Conflict
from pnyx.dispatch.leadership import Leadership
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import (
    FINAL_ENGINE_STATES,
    EngineRef,
    EngineRejected,
    EngineState,
    EngineStatus,
    EngineUnavailable,
    Grant,
    JobAction,
    JobRecord,
    JobSpec,
    JobStatus,
)
from pnyx.jobs.rules import placement_of, to_scheduler_job
from pnyx.jobs.service import JobService
from pnyx.scheduler.cycle import schedule
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Running
from pnyx.scheduler.policy import Policy
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import build_snapshot
from pnyx.scheduler.topology import Topology

log = logging.getLogger("pnyx.dispatch")
LOST_GRACE = timedelta(seconds=60)  # an engine that does not know a job this long after submit lost it


class UsageSink(Protocol):
    def record_usage(
        self,
        *,
        job_id: str,
        project_id: str,
        accelerator_type: str,
        accelerators: int,
        started_at: datetime,
        ended_at: datetime,
        member_state: str | None = None,
    ) -> object: ...


@dataclass(slots=True)
class CycleReport:
    leader: bool
    started: int = 0
    submitted: int = 0
    finished: int = 0
    preempted: int = 0
    rejected: int = 0
    requeued: int = 0
    considered: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


FINISH_ACTION = {
    EngineState.SUCCEEDED: JobAction.SUCCEED,
    EngineState.FAILED: JobAction.FAIL,
    EngineState.CANCELLED: JobAction.CANCEL,
}


class Dispatcher:
    def __init__(
        self,
        *,
        jobs: JobService,
        topology: Callable[[], Topology],
        executors: Mapping[str, Executor],
        shares: Callable[[datetime], Mapping[str, Decimal]],
        clock: Clock,
        policy: Policy,
        leadership: Leadership,
        usage: UsageSink | None = None,
    ) -> None:
        self.jobs, self.topology, self.executors = jobs, topology, executors
        self.shares, self.clock, self.policy = shares, clock, policy
        self.leadership, self.usage = leadership, usage

    def cycle(self) -> CycleReport:
        started = time.perf_counter()
        if not self.leadership.acquire():
            return CycleReport(leader=False)
        report = CycleReport(leader=True)
        topology = self.topology()  # one inventory check per cycle
        self._reconcile(report, topology)
        self._schedule(report, topology)
        report.seconds = time.perf_counter() - started
        return report

    # --- 2. reconcile ----------------------------------------------------------------------------

    def _reconcile(self, report: CycleReport, topology: Topology) -> None:
        polled: dict[str, list[JobRecord]] = {}
        for held in self.jobs.holding():
            executor = self.executors.get(held.engine)
            if executor is None:
                self._close(held, JobAction.FAIL, f"the {held.engine} engine is no longer configured", report)
                continue
            job = (
                held if held.engine_job_id is not None else self._hand_over(held, executor, topology, report)
            )
            if job is None:
                continue
            if job.cancel_requested:
                self._cancel_at_engine(job, report)
            polled.setdefault(job.engine, []).append(job)
        for engine, jobs in polled.items():
            try:
                statuses = self.executors[engine].status([_ref(j) for j in jobs])
            except EngineUnavailable as exc:
                report.errors.append(f"{engine}: {exc.message}")
                continue
            for job, status in zip(jobs, statuses, strict=True):
                self._follow(job, status, report)

    def _hand_over(
        self, job: JobRecord, executor: Executor, topology: Topology, report: CycleReport
    ) -> JobRecord | None:
        """Submit a placed job (or find the submission a crashed dispatcher already made)."""
        try:
            ref = executor.find(job.idempotency_key) or executor.submit(spec_of(job), grant_of(job))
        except EngineRejected as exc:
            self._close(
                job, JobAction.FAIL, f"the {job.engine} engine refused the job: {exc.message}", report
            )
            return None
        except EngineUnavailable as exc:
            report.errors.append(f"{job.engine}: {exc.message}")
            return None
        report.submitted += 1
        return self.jobs.confirm(job.id, ref.engine_job_id, started_at=self.clock.now())

    def _follow(self, job: JobRecord, status: EngineStatus, report: CycleReport) -> None:
        if status.state in FINAL_ENGINE_STATES:
            action = FINISH_ACTION[status.state]
            reason = "cancelled" if job.cancel_requested and action is JobAction.CANCEL else status.message
            done = self.jobs.finish(
                job.id,
                action,
                exit_code=status.exit_code,
                reason=reason,
                started_at=status.started_at,
                ended_at=status.ended_at,
            )
            report.finished += 1
            self._record_usage(done)
            if status.state is EngineState.SUCCEEDED:
                self._record_artifacts(done)
        elif status.state is EngineState.UNKNOWN:
            placed = job.dispatched_at or job.submitted_at
            if self.clock.now() - placed > LOST_GRACE:
                self.jobs.requeue(job.id, f"the {job.engine} engine lost the job; requeued")
                report.requeued += 1

    def _record_artifacts(self, job: JobRecord) -> None:
        executor = self.executors.get(job.engine)
        if executor is not None and job.engine_job_id is not None:
            self.jobs.record_artifacts(job.id, executor.artifacts(_ref(job)))

    def _record_usage(self, job: JobRecord) -> None:
        if self.usage is None or job.started_at is None or job.ended_at is None:
            return
        with contextlib.suppress(Conflict):  # already recorded by a cycle that crashed just after
            self.usage.record_usage(
                job_id=job.idempotency_key,
                project_id=job.project,
                accelerator_type=job.placed_type or job.accelerator_type or "H100-SXM",
                accelerators=job.accelerators,
                started_at=job.started_at,
                ended_at=job.ended_at,
                member_state=job.member_state,
            )

    def _close(self, job: JobRecord, action: JobAction, reason: str, report: CycleReport) -> None:
        self.jobs.finish(job.id, action, exit_code=None, reason=reason, started_at=None, ended_at=None)
        report.finished += 1

    # --- 3. schedule, 4. apply -------------------------------------------------------------------

    def _schedule(self, report: CycleReport, topology: Topology) -> None:
        now = self.clock.now()
        active = self.jobs.active()
        pending = [j for j in active if j.status is JobStatus.PENDING]
        running = [_running(j, topology, now) for j in active if j.status is not JobStatus.PENDING]
        usage = running_usage(running, now.timestamp())
        shares = Shares(members={k: float(v) for k, v in self.shares(now).items()})
        snapshot = build_snapshot(topology, running, shares, usage)
        decisions = schedule(
            snapshot, Queue([to_scheduler_job(j) for j in pending]), now.timestamp(), self.policy
        )
        report.considered = decisions.considered
        by_id = {j.id: j for j in active}
        for p in decisions.preemptions:
            victim = by_id[p.job_id]
            if victim.engine_job_id is not None:
                self._cancel_at_engine(victim, report)
            self.jobs.requeue(
                victim.id, f"preempted by {p.by}; {p.lost_s:.0f} s of work since the last checkpoint lost"
            )
            report.preempted += 1
        for r in decisions.rejections:
            self.jobs.reject(r.job_id, r.reason)
            report.rejected += 1
        for placement in decisions.starts:
            job = self.jobs.dispatch(
                placement.job_id,
                node_ids=placement.node_ids,
                counts=placement.counts,
                placed_type=placement.accelerator_type,
            )
            report.started += 1
            executor = self.executors.get(job.engine)
            if executor is not None:
                self._hand_over(job, executor, topology, report)

    def _cancel_at_engine(self, job: JobRecord, report: CycleReport) -> None:
        executor = self.executors.get(job.engine)
        if executor is None:
            return
        try:
            executor.cancel(_ref(job))
        except EngineUnavailable as exc:
            report.errors.append(f"{job.engine}: {exc.message}")

    # --- running it ------------------------------------------------------------------------------

    def run(self, stop: threading.Event, interval_s: float = 2.0) -> None:
        """Cycle until ``stop`` is set. Errors are logged and retried; they never end the loop."""
        try:
            while not stop.is_set():
                try:
                    report = self.cycle()
                    if report.errors:
                        log.warning("dispatch cycle: %s", "; ".join(report.errors))
                except Exception:
                    log.exception("dispatch cycle failed; retrying")
                stop.wait(interval_s)
        finally:
            self.leadership.release()


def running_usage(running: list[Running], now_s: float) -> Usage:
    """Fair-share usage: accelerator-seconds of the work holding accelerators now, per user.

    Finished work is not counted yet (see docs/adr/0006); the simulator carries decayed history."""
    by_user: dict[tuple[str, str, str], float] = {}
    for r in running:
        key = (r.job.member, r.job.project, r.job.user)
        by_user[key] = by_user.get(key, 0.0) + r.placement.accelerators * max(0.0, now_s - r.start_s)
    return Usage(at=now_s, by_user=by_user)


def spec_of(job: JobRecord) -> JobSpec:
    return JobSpec(
        job_id=job.id,
        idempotency_key=job.idempotency_key,
        name=job.name,
        project=job.project,
        user=job.user,
        accelerator_type=job.placed_type or job.accelerator_type or "",
        accelerators=job.accelerators,
        nodes=max(1, len(job.node_ids)),
        accelerators_per_node=max(job.counts, default=job.accelerators),
        safety_level=job.label,
        time_limit_s=job.estimate_s,
        command=job.command,
        image=job.image,
    )


def grant_of(job: JobRecord) -> Grant:
    return Grant(node_ids=job.node_ids, counts=job.counts)


def _ref(job: JobRecord) -> EngineRef:
    assert job.engine_job_id is not None
    return EngineRef(engine=job.engine, engine_job_id=job.engine_job_id)


def _running(job: JobRecord, topology: Topology, now: datetime) -> Running:
    start = (job.started_at or job.dispatched_at or now).timestamp()
    return Running(
        job=to_scheduler_job(job),
        placement=placement_of(job, topology),
        start_s=start,
        end_s=start + job.estimate_s,
    )
