"""One cycle's plan from the stored jobs (pure): the stored jobs as the scheduler sees them
(``cycle_inputs``), decided by ``audit.rerun.decide``, the one implementation of the cycle that the
decision records are replayed with:

1. now    - the scheduler's cycle over the accelerators as they are: every job holding them, except
            those queued ahead at their engine (``scheduler.ahead``), which hold the next layer.
2. ahead  - for engines with their own queue (``ahead_engines``): the same scheduler, without
            preemption, over the next layer, for the jobs still waiting. Skipped while a blocked job
            holds a reservation (queuing small jobs ahead would delay it at the engine) and while an
            engine's queue is deeper than two anywhere.
3. cancel - queued-ahead jobs on the nodes of a job preempted now: they go back to the queue, so the
            preemptor gets what it was given.

The capacity the holding jobs leave is carried from one plan to the next where the caller keeps a
``Carrier`` (``scheduler.carried``: changed by the jobs that came and left, the very ledger a build
from blank gives), as the audit replay carries it; a plan that raised leaves none to the next. The
waiting jobs' queue is kept with it (``scheduler.queue.KeptQueue``: read as a queue built afresh).

Fair share is the twin's: the history of finished work decayed to now (``PlanInputs.history``, kept
by ``dispatch.fair``) plus every job holding accelerators now, folded by ``scheduler.fairshare.fold``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pnyx.audit.rerun import decide
from pnyx.audit.wire import CycleInputs, Held
from pnyx.dispatch.faults import describe
from pnyx.dispatch.views import JobViews
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.carried import CarriedCapacity
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Decisions, Placement
from pnyx.scheduler.policy import Policy
from pnyx.scheduler.queue import KeptQueue
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


class Carrier:
    """The carried capacity a dispatcher keeps from one plan to the next: lent to one plan at a time
    and kept again only by a plan that finished (one that raised may have left it half-changed: the
    next plan starts a new one from the blank, as a build would)."""

    __slots__ = ("_kept", "queue")

    def __init__(self) -> None:
        self._kept: CarriedCapacity | None = None
        self.queue = KeptQueue()  # the waiting jobs' queue, changed from plan to plan as well

    def lend(self, blank: Capacity) -> CarriedCapacity:
        """The kept capacity if it was carried over ``blank`` (the same topology's), else a new one."""
        kept, self._kept = self._kept, None
        return kept if kept is not None and kept.blank is blank else CarriedCapacity(blank)

    def keep(self, carried: CarriedCapacity) -> None:
        self._kept = carried


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    decided_on: CycleInputs  # what the scheduler was given: the decision record's inputs
    decisions: Decisions  # the cycle over the hardware now
    ahead: tuple[Placement, ...] = ()  # queued ahead at their engine, pinned to these nodes
    requeue: tuple[str, ...] = ()  # queued-ahead jobs displaced by a preemption
    errors: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanInputs:
    """Everything one cycle's plan reads, by value (what a decision record serialises)."""

    topology: Topology
    active: tuple[JobRecord, ...]  # pending and holding jobs, as stored
    now: datetime
    shares: Shares  # entitlements in force, award weights, the half-life
    history: Usage  # finished work's decayed usage at ``now`` (work holding accelerators is added)
    policy: Policy
    ahead: QueueAhead = QueueAhead()
    blank: Capacity | None = None  # the topology's capacity with nothing taken, kept by the caller
    views: JobViews | None = None  # the jobs as the scheduler sees them, kept by the caller (a cache)
    carrier: Carrier | None = None  # the capacity carried from plan to plan (needs ``blank``; a cache)


def plan(inputs: PlanInputs) -> Plan:
    given, errors = cycle_inputs(inputs)
    carrier, blank = inputs.carrier, inputs.blank
    carried = None if carrier is None or blank is None else carrier.lend(blank)
    kept = None if carrier is None else carrier.queue
    out = decide(inputs.topology, given, blank=blank, carried=carried, kept=kept)
    if carrier is not None and carried is not None:
        carrier.keep(carried)
    return Plan(
        decided_on=given, decisions=out.decisions, ahead=out.ahead, requeue=out.requeue, errors=errors
    )


def cycle_inputs(given: PlanInputs) -> tuple[CycleInputs, tuple[str, ...]]:
    """The stored jobs as the scheduler sees them, and an error for each job whose nodes left the
    inventory: it is left out, never a reason to stop scheduling everyone else."""
    views = given.views or JobViews()
    pending = [j for j in given.active if j.status is JobStatus.PENDING]
    holding, errors = _holding(views, given.topology, given.active, given.now)
    inputs = CycleInputs(
        now=given.now.timestamp(),
        queue=views.jobs(pending),
        engines={j.id: j.engine for j in pending},
        holding=holding,
        shares=given.shares,
        policy=given.policy,
        history=given.history,
        ahead_engines=given.ahead.engines,
        ahead_depth=given.ahead.depth,
        order=tuple(h.running.job.id for h in holding),
    )
    views.done()
    return inputs, errors


def _holding(
    views: JobViews, topology: Topology, active: Sequence[JobRecord], now: datetime
) -> tuple[tuple[Held, ...], tuple[str, ...]]:
    """The jobs holding accelerators, in the order they were read (``audit.rerun.holding_order``
    takes the started ones in this order, the others by hand-over time)."""
    out: list[Held] = []
    errors: list[str] = []
    for job in (j for j in active if j.status is not JobStatus.PENDING):
        try:
            out.append(views.held(job, topology, now))
        except (KeyError, IndexError) as exc:
            errors.append(f"job {job.id}: its nodes are not in the inventory ({describe(exc)})")
    return tuple(out), tuple(errors)
