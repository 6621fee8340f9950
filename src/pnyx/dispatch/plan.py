"""One cycle's plan from the stored jobs (pure): what starts now, what is queued ahead, what stops.

1. now    - the scheduler's cycle over the accelerators as they are: every job holding them, except
            those queued ahead at their engine (``scheduler.ahead``), which hold the next layer.
2. ahead  - for engines with their own queue (``ahead_engines``): the same scheduler, without
            preemption, over the next layer, for the jobs still waiting. Skipped while a blocked job
            holds a reservation (queuing small jobs ahead would delay it at the engine) and while an
            engine's queue is deeper than two anywhere.
3. cancel - queued-ahead jobs on the nodes of a job preempted now: they go back to the queue, so the
            preemptor gets what it was given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pnyx.dispatch.faults import describe
from pnyx.dispatch.records import running_of, running_usage
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.rules import to_scheduler_job
from pnyx.scheduler.ahead import Layers, layers, overlapping
from pnyx.scheduler.cycle import schedule
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.model import Decisions, Placement, Running
from pnyx.scheduler.policy import Policy
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import build_snapshot
from pnyx.scheduler.topology import Topology


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueAhead:
    """Which engines get jobs queued ahead, and how many layers deep (1: none, the hardware only)."""

    engines: frozenset[str] = frozenset()
    depth: int = 2

    @classmethod
    def of(cls, depths: Mapping[str, int]) -> QueueAhead:
        """From each engine's depth: the engines deeper than one layer, at the deepest of them."""
        deep = {engine: depth for engine, depth in depths.items() if depth > 1}
        return cls(engines=frozenset(deep), depth=max(deep.values(), default=1))


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    decisions: Decisions  # the cycle over the hardware now
    ahead: tuple[Placement, ...] = ()  # queued ahead at their engine, pinned to these nodes
    requeue: tuple[str, ...] = ()  # queued-ahead jobs displaced by a preemption
    errors: tuple[str, ...] = field(default_factory=tuple)


def plan(
    topology: Topology,
    active: list[JobRecord],
    *,
    now: datetime,
    shares: Mapping[str, float],
    policy: Policy,
    ahead: QueueAhead = QueueAhead(),
) -> Plan:
    pending = [j for j in active if j.status is JobStatus.PENDING]
    holding, errors = _holding(active, topology, now)
    stack = layers(topology, holding[0], holding[1], ahead.depth)
    usage = running_usage(list(stack.now + stack.queued + stack.deeper + stack.overlaid), now.timestamp())
    share = Shares(members=dict(shares))
    decisions = schedule(
        build_snapshot(topology, stack.now, share, usage), _queue(pending), now.timestamp(), policy
    )
    if not _may_queue_ahead(decisions, stack, ahead.engines):
        return Plan(decisions=decisions, errors=errors)
    rest = [j for j in pending if j.engine in ahead.engines and j.id not in _decided(decisions)]
    quiet = dataclasses.replace(policy, preemption=False)
    placed: list[Placement] = []
    for layer in stack.ahead:  # the same scheduler over each next layer, for the jobs still waiting
        later = schedule(build_snapshot(topology, layer, share, usage), _queue(rest), now.timestamp(), quiet)
        placed += later.starts
        rest = [j for j in rest if j.id not in {p.job_id for p in later.starts}]
    victims = [r.placement for r in stack.now if r.job.id in {p.job_id for p in decisions.preemptions}]
    displaced = tuple(r.job.id for r in overlapping(victims, stack.queued))
    return Plan(decisions=decisions, ahead=tuple(placed), requeue=displaced, errors=errors)


def _holding(
    active: list[JobRecord], topology: Topology, now: datetime
) -> tuple[tuple[list[Running], list[Running]], tuple[str, ...]]:
    """(started, handed over but not started, in hand-over order); a job whose nodes left the
    inventory is left out and reported, never a reason to stop scheduling everyone else."""
    started: list[Running] = []
    waiting: list[tuple[datetime, Running]] = []
    errors: list[str] = []
    for job in (j for j in active if j.status is not JobStatus.PENDING):
        try:
            r = running_of(job, topology, now)
        except (KeyError, IndexError) as exc:
            errors.append(f"job {job.id}: its nodes are not in the inventory ({describe(exc)})")
            continue
        if job.status is JobStatus.RUNNING:
            started.append(r)
        else:
            waiting.append((job.dispatched_at or job.submitted_at, r))
    waiting.sort(key=lambda pair: pair[0])
    return (started, [r for _, r in waiting]), tuple(errors)


def _may_queue_ahead(decisions: Decisions, stack: Layers, ahead_engines: Collection[str]) -> bool:
    return bool(ahead_engines) and not decisions.reservations and not stack.deeper


def _decided(decisions: Decisions) -> set[str]:
    return {p.job_id for p in decisions.starts} | {r.job_id for r in decisions.rejections}


def _queue(jobs: list[JobRecord]) -> Queue:
    return Queue([to_scheduler_job(j) for j in jobs])
