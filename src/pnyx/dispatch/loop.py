"""The dispatch loop: reconcile with the engines, run one scheduling cycle, hand decisions over. A cycle:
1. lead      - act only while holding the leadership (one dispatcher per database).
2. reconcile - every job holding accelerators is checked against its engine: a placed job the
               engine has not got yet is found (one batched lookup per engine where it offers one)
               or submitted (idempotent on the attempt's key, so a crash between decision and
               submission neither loses nor doubles a job); the engine's word (``states``: one call
               per engine, else job by job) moves jobs from queued to running and closes finished
               ones (usage recorded); cancels are passed on.
3. schedule  - the jobs are read (``job_cache``); those waiting are raised to their project's label
               and jobs held for safety whose project an officer has since confirmed join the queue
               (read again if any job changed); the snapshot goes through the very scheduler the
               simulator drives.
4. apply     - preemptions (the victim, stopped by its engine, may checkpoint on SIGTERM, and is
               requeued), rejections, then at most ``MAX_STARTS`` starts: committed (DISPATCHING),
               submitted without a lookup (its key is new), confirmed (QUEUED) and asked its state.
The database stays authoritative: an engine's answer only moves a job through its transition table
(RUNNING once its engine says so: ``handover``); one job's fault is that job's alone (``faults``);
outputs are hashed on the dispatcher's own worker thread (``outputs``). Each deciding cycle is
recorded in the log before it is applied (``decision_log``)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta

from pnyx.core.clock import Clock
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.dispatch.fair import FairShare, SharesAt
from pnyx.dispatch.faults import (
    Fault,
    describe,
    engine_reason,
    fault_of,
    given_up_reason,
    next_strikes,
    over_limit,
)
from pnyx.dispatch.handover import MAX_STARTS, Lookup, begin_cycle, by_engine, hand_over, lookups
from pnyx.dispatch.heap import Heap
from pnyx.dispatch.holds import settled
from pnyx.dispatch.inputs import UNSTARTED, InputGate, WithdrawnVersions
from pnyx.dispatch.job_cache import JobCache
from pnyx.dispatch.leadership import Leadership
from pnyx.dispatch.outputs import CHECKPOINT_EVERY_S, ModelIntake, OutputRecorder
from pnyx.dispatch.plan import QueueAhead, plan
from pnyx.dispatch.records import (
    confirm_act,
    dispatch_act,
    end_act,
    ending,
    ref_of,
    reject_act,
    requeue_act,
    start_act,
    starting,
)
from pnyx.dispatch.report import BUSY_INTERVAL_S, CycleReport, Tally, cycle_until
from pnyx.dispatch.sealed import KeyGate, KeysLost
from pnyx.dispatch.states import EngineStates
from pnyx.dispatch.usage import UsageRecorder, UsageSink
from pnyx.dispatch.wake import Arrivals
from pnyx.jobs.changes import Act
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import (
    WAITING_STATUSES,
    EngineRef,
    EngineState,
    EngineStatus,
    EngineUnavailable,
    JobAction,
    JobRecord,
    JobStatus,
)
from pnyx.jobs.rules import placed_at
from pnyx.jobs.service import JobService
from pnyx.scheduler.model import Placement
from pnyx.scheduler.policy import Policy
from pnyx.scheduler.topology import Topology

log = logging.getLogger("pnyx.dispatch")
LOST_GRACE = timedelta(seconds=60)  # an engine that does not know a job this long after submit lost it
FOLLOWED = frozenset({EngineState.QUEUED, EngineState.UNKNOWN})  # the engine's states ``_follow`` acts on


class Dispatcher:
    def __init__(
        self,
        *,
        jobs: JobService,
        topology: Callable[[], Topology],
        executors: Mapping[str, Executor],
        shares: SharesAt | FairShare,  # entitlements in force; with history and awards: ``dispatch.fair``
        clock: Clock,
        policy: Policy,
        leadership: Leadership,
        usage: UsageSink | None = None,
        max_starts: int = MAX_STARTS,
        queue_ahead: QueueAhead | None = None,
        intake: ModelIntake | None = None,
        checkpoint_every_s: float = CHECKPOINT_EVERY_S,
        inputs: WithdrawnVersions | None = None,
        keys: KeyGate | None = None,
        decisions: DecisionRecorder | None = None,
    ) -> None:
        self.jobs, self.topology, self.executors = jobs, topology, executors
        self.fair, self.clock, self.policy = FairShare.of(shares), clock, policy
        self.leadership, self.usage = leadership, UsageRecorder(usage)
        self.max_starts, self.ahead = max_starts, queue_ahead or QueueAhead()
        self.outputs = OutputRecorder(jobs, executors, intake=intake, checkpoint_every_s=checkpoint_every_s)
        self._leading, self._tally = False, Tally()
        self._strikes: dict[str, int] = {}  # idempotency key -> consecutive failing cycles
        self.inputs = InputGate(inputs, executors, apply=self._apply, fault=self._engine_fault)
        self.keys = keys or KeyGate(None)  # its delivery key (memory only): workspace jobs need keys
        self.decisions = decisions or DecisionRecorder(None)  # each cycle's decision record (issue 14)
        self.job_cache = JobCache(jobs)  # decoded jobs, re-read where their revision moved
        self.arrivals = Arrivals(jobs, leading=lambda: self._leading)  # an idle pause ends on arrivals
        self.heap = Heap()  # settled between cycles: the collector walks only what a cycle allocates
        self.states = EngineStates(executors, self._engine_fault)  # each engine's word, once a cycle

    def cycle(self) -> CycleReport:
        started = time.perf_counter()
        if not self.leadership.acquire():
            self._leading = False
            return CycleReport(leader=False)
        report = CycleReport(leader=True)
        self._tally = Tally()
        if not self._leading:
            self._leading = self._take_lead(report)
        self.usage.retry()  # usage records refused in earlier cycles go with this cycle's
        topology = self.topology()  # one inventory check per cycle
        begin_cycle(self.executors.values())  # one engine listing per cycle, where kept
        self._reconcile(report, topology)
        self._schedule(report, topology)
        self._settle(report)
        self.usage.meter(report.errors)  # usage still queued, then each project recorded, once a cycle
        self.outputs.retry()
        report.errors.extend(self.outputs.take_errors())
        report.seconds = time.perf_counter() - started
        return report

    def _take_lead(self, report: CycleReport) -> bool:
        """Nothing remembered is trusted across a change of leader; a stopped leader's crash windows
        are closed (outputs taken in, usage recorded). False: a recovery failed (tried next cycle)."""
        self.job_cache.clear()  # every job read afresh
        self.decisions.forget()  # the next record is a reset naming the log's last
        now = self.clock.now()
        outputs = self.outputs.recover(self.jobs, now, report.errors)
        return self.usage.recover(self.jobs, now, report.errors) and outputs

    # --- 2. reconcile ----------------------------------------------------------------------------

    def _reconcile(self, report: CycleReport, topology: Topology) -> None:
        held = self.inputs.admit(self.job_cache.holding(), UNSTARTED, report)
        self.outputs.watch([j for j in held if j.status is JobStatus.RUNNING])  # checkpoints, off-thread
        found = lookups(self.executors, [j for j in held if j.engine_job_id is None], report.errors)
        polled: list[JobRecord] = []
        for job in held:
            if self._followed(job):  # most of them: nothing to find, submit or pass on
                polled.append(job)
                continue
            with self._guard(job, "reconcile", report):
                ready = self._prepare(job, found.get(job.engine), report, topology)
                polled.extend([ready] if ready is not None else [])
        self._poll(polled, report)

    def _followed(self, job: JobRecord) -> bool:
        """Its engine has it and nothing is to be passed on: only its state is asked for."""
        return job.engine_job_id is not None and not job.cancel_requested and job.engine in self.executors

    def _poll(self, jobs: list[JobRecord], report: CycleReport) -> None:
        """Ask each engine once for its jobs' states and follow its word (starts in one transaction)."""
        for engine, engine_jobs in by_engine(jobs).items():
            pairs = self.states.of(engine, engine_jobs, report, self._tally)
            now = self.clock.now()
            starts = [(job, start_act(job, status, now)) for job, status in pairs if starting(job, status)]
            report.running += len(self._apply(starts, "start", report))
            self._end([pair for pair in pairs if ending(*pair)], report)
            for job, status in (pair for pair in pairs if pair[1].state in FOLLOWED and not starting(*pair)):
                with self._guard(job, "close", report):
                    self._follow(job, status, report)

    def _end(self, pairs: list[tuple[JobRecord, EngineStatus]], report: CycleReport) -> None:
        """Close the jobs their engine saw end (one transaction); then their usage (one transaction)
        and each one's outputs (off-thread)."""
        now, statuses = self.clock.now(), {job.id: status for job, status in pairs}
        for done in self._apply([(job, end_act(job, status, now)) for job, status in pairs], "close", report):
            with self._guard(done, "close", report):
                report.finished += 1
                self.usage.record(done)
                if statuses[done.id].state is EngineState.SUCCEEDED:
                    self.outputs.record(done)
        self.usage.flush(report.errors)

    def _prepare(
        self, held: JobRecord, lookup: Lookup | None, report: CycleReport, topology: Topology
    ) -> JobRecord | None:
        """The job with its engine id (found or submitted, cancel passed on); None: not to poll."""
        executor = self.executors.get(held.engine)
        if executor is None:
            self._close(held, JobAction.FAIL, f"the {held.engine} engine is no longer configured", report)
            return None
        job: JobRecord | None = held
        if held.engine_job_id is None:  # found, or submitted after all: the engine has it (QUEUED)
            ref = self._submit(held, executor, lookup or executor.find, report, topology)
            job = None if ref is None else self.jobs.confirm(held.id, ref.engine_job_id)
        if job is not None and job.cancel_requested and self._cancel_at_engine(job, report) is False:
            return None
        return job

    def _submit(
        self,
        job: JobRecord,
        executor: Executor,
        lookup: Lookup | None,
        report: CycleReport,
        topology: Topology,
    ) -> EngineRef | None:
        """Submit a placed job unless ``lookup`` finds an earlier cycle's submission (None: a new key)."""
        try:
            ref = hand_over(executor, job, lookup, topology, self.keys.spec)
        except Exception as exc:
            self._engine_fault(job, "start", exc, report)
            return None
        self._tally.answered.add(job.engine)
        report.submitted += 1
        return ref

    def _follow(self, job: JobRecord, status: EngineStatus, report: CycleReport) -> None:
        """A job its engine neither started nor ended: still queued, let go of, or lost."""
        if status.state is EngineState.QUEUED:
            report.queued += 1
        elif status.state is EngineState.UNKNOWN and job.cancel_requested:  # deleted on cancel: done
            self._close(job, JobAction.CANCEL, "cancelled; the engine has let go of it", report)
        elif status.state is EngineState.UNKNOWN and self.clock.now() - placed_at(job) > LOST_GRACE:
            self.jobs.requeue(job.id, f"the {job.engine} engine lost the job; requeued")
            report.requeued += 1

    def _close(self, job: JobRecord, action: JobAction, reason: str, report: CycleReport) -> None:
        self.jobs.finish(job.id, action, exit_code=None, reason=reason, started_at=None, ended_at=None)
        report.finished += 1

    def _engine_fault(self, job: JobRecord, verb: str, exc: Exception, report: CycleReport) -> None:
        """A transient error: try again next cycle (counted); lost keys: back to its SME; any other: fails."""
        if isinstance(exc, KeysLost):  # requeued first if placed: never run without its keys
            self.keys.lost(job, exc, report)
        elif fault_of(exc) is Fault.TRANSIENT:
            report.errors.append(f"{job.engine}: job {job.id}: {describe(exc)}")
            self._tally.failed[job.idempotency_key] = (job, job.engine, describe(exc))
        else:
            self._give_up(job, engine_reason(job.engine, verb, exc), report)

    @contextlib.contextmanager
    def _guard(self, job: JobRecord, step: str, report: CycleReport) -> Iterator[None]:
        """The dispatcher's own handling of one job failed: log it, count it, go on with the others."""
        try:
            yield
        except Exception as exc:
            self._faulted(job, step, exc, report)

    def _faulted(self, job: JobRecord, step: str, exc: Exception, report: CycleReport) -> None:
        log.error("dispatch: job %s: %s failed", job.id, step, exc_info=exc)
        report.errors.append(f"job {job.id}: {step} failed: {describe(exc)}")
        self._tally.failed[job.idempotency_key] = (job, None, describe(exc))

    def _apply(self, changes: list[tuple[JobRecord, Act]], step: str, report: CycleReport) -> list[JobRecord]:
        """One step's changes in one transaction; a change that failed is that job's fault alone."""
        done = self.jobs.act_each([a for _, a in changes])
        for (job, _), result in zip(changes, done, strict=True):
            if isinstance(result, Exception):
                self._faulted(job, step, result, report)
        return [result for result in done if not isinstance(result, Exception)]

    def _settle(self, report: CycleReport) -> None:
        """Count this cycle's failures per job attempt; give up on those failing too long."""
        failed = self._tally.failed
        self._strikes = next_strikes(
            self._strikes, {k: f[1] for k, f in failed.items()}, self._tally.answered
        )
        for key in over_limit(self._strikes):
            job, engine, last = failed[key]
            self._give_up(job, given_up_reason(engine, self._strikes.pop(key), last), report)

    def _give_up(self, job: JobRecord, reason: str, report: CycleReport, *, stop: bool = True) -> None:
        """Fail the job with ``reason``; then (``stop``) ask its engine to stop whatever still runs."""
        log.warning("dispatch: job %s fails: %s", job.id, reason)
        report.errors.append(f"job {job.id}: {reason}")
        try:
            self._close(job, JobAction.FAIL, reason, report)
        except Exception:
            log.exception("dispatch: job %s could not be failed", job.id)
            return
        executor = self.executors.get(job.engine)
        if stop and executor is not None and job.engine_job_id is not None:
            try:
                executor.cancel(ref_of(job))
            except Exception:
                log.warning("dispatch: job %s failed; its engine could not stop it", job.id, exc_info=True)

    # --- 3. schedule, 4. apply -------------------------------------------------------------------

    def _schedule(self, report: CycleReport, topology: Topology) -> None:
        now = self.clock.now()
        read = settled(self.job_cache, report)  # holds settled on the cycle's one read
        active = self.keys.admit(self.inputs.admit(read, WAITING_STATUSES, report), report)
        inputs = self.fair.inputs(topology, active, now, self.policy, self.ahead)  # the twin's fair share
        decided = self.decisions.recorded(inputs, plan(inputs), report.errors)  # logged, then applied
        report.errors.extend(decided.errors)
        report.considered = decided.decisions.considered
        by_id = {j.id: j for j in active}
        preempted = [(by_id[p.job_id], p.by, p.lost_s) for p in decided.decisions.preemptions]
        displaced = [(by_id[job_id], "a preemption on its nodes", 0.0) for job_id in decided.requeue]
        unstopped = self._preempt([*preempted, *displaced], report)
        rejected = [(by_id[r.job_id], reject_act(r.job_id, r.reason)) for r in decided.decisions.rejections]
        report.rejected += len(self._apply(rejected, "reject", report))
        starts = decided.decisions.starts + decided.ahead
        placements = [p for p in starts if unstopped.isdisjoint(p.node_ids)][: self.max_starts]
        handed = self._start(placements, by_id, report, topology)
        self._poll(handed, report)  # engines that start at once say so now; the others say QUEUED
        report.waiting = len(decided.decided_on.queue) - report.started - report.rejected  # pending, less

    def _preempt(self, victims: list[tuple[JobRecord, str, float]], report: CycleReport) -> set[str]:
        """Each victim stopped by its engine, then requeued (one transaction), its attempt's use
        queued. One its engine did not stop is not requeued (a new attempt might run beside it): it
        stays followed (engine unavailable: preempted again next cycle) or is failed (the engine
        broke on it). Their nodes are returned: nothing starts on them this cycle."""
        stopped, unstopped = list[tuple[JobRecord, Act]](), set[str]()
        for job, by, lost_s in victims:
            if job.engine_job_id is None or self._cancel_at_engine(job, report):
                stopped.append((job, requeue_act(job, by, lost_s)))
            else:
                unstopped.update(job.node_ids)
        done, now = self.jobs.act_each([a for _, a in stopped]), self.clock.now()
        for (victim, _), result in zip(stopped, done, strict=True):
            if isinstance(result, Exception):
                self._faulted(victim, "preempt", result, report)
                continue
            self.usage.stopped(victim, now)  # the attempt's use, as the twin's (sent by ``meter``)
            report.preempted += 1
        return unstopped

    def _start(
        self,
        placements: list[Placement],
        by_id: dict[str, JobRecord],
        report: CycleReport,
        topology: Topology,
    ) -> list[JobRecord]:
        """Commit the decisions (one transaction), hand each over without a lookup (its key is new this
        cycle), confirm those the engines took (one transaction)."""
        placed = self._apply([(by_id[p.job_id], dispatch_act(p)) for p in placements], "start", report)
        report.started += len(placed)
        taken = [
            (job, ref)
            for job in placed
            if (executor := self.executors.get(job.engine)) is not None
            and (ref := self._submit(job, executor, None, report, topology)) is not None
        ]
        return self._apply([(job, confirm_act(job, ref)) for job, ref in taken], "confirm", report)

    def _cancel_at_engine(self, job: JobRecord, report: CycleReport) -> bool | None:
        """Pass a cancel on. True: done (or no engine); None: the engine is unavailable (asked again
        next cycle; the job stays followed meanwhile); False: the engine broke on it, the job failed."""
        executor = self.executors.get(job.engine)
        if executor is None:
            return True
        try:
            executor.cancel(ref_of(job))
        except EngineUnavailable as exc:  # tried again next cycle; the job stays followed meanwhile
            report.errors.append(f"{job.engine}: job {job.id}: {exc.message}")
            return None
        except Exception as exc:
            self._give_up(job, engine_reason(job.engine, "cancel", exc), report, stop=False)
            return False
        self._tally.answered.add(job.engine)
        return True

    def run(
        self, stop: threading.Event, interval_s: float = 2.0, busy_interval_s: float = BUSY_INTERVAL_S
    ) -> None:
        """Cycle until ``stop`` (``report.cycle_until``), then let go of the lead."""
        try:
            cycle_until(stop, self.cycle, interval_s, busy_interval_s, self.arrivals, self.heap.settle)
        finally:
            self.close()

    def close(self) -> None:
        """Stop recording outputs (the one in progress finishes) and let go of the lead."""
        self.outputs.close()
        self.leadership.release()
        self._leading = False
