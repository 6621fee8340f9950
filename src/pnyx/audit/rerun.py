"""One dispatch cycle decided from its inputs (pure): production's cycle (``dispatch.plan.plan`` runs
it over the stored jobs as ``dispatch.plan.cycle_inputs`` reads them) and the replay's, over the
inputs a decision record holds; one implementation, so a record decides again as it was decided.

1. now    - the scheduler's cycle over the accelerators as they are (``scheduler.ahead.layers``).
2. ahead  - for engines with their own queue, the same scheduler without preemption over the next
            layers, for the jobs still waiting; not while a reservation is held or a layer is deeper.
3. cancel - queued-ahead jobs on the nodes of a job preempted now go back to the queue.
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter

from pnyx.audit.wire import CycleInputs, CycleOutputs, Held, usual_order
from pnyx.scheduler.ahead import Layers, layers, overlapping
from pnyx.scheduler.capacity import Capacity, blank_of
from pnyx.scheduler.carried import CarriedCapacity
from pnyx.scheduler.cycle import schedule
from pnyx.scheduler.fairshare import Usage, fold, spans_of
from pnyx.scheduler.model import Decisions, Job, Placement, Running
from pnyx.scheduler.queue import KeptQueue, Queue
from pnyx.scheduler.snapshot import Snapshot, build_snapshot
from pnyx.scheduler.topology import Topology


def decide(
    topology: Topology,
    inputs: CycleInputs,
    *,
    blank: Capacity | None = None,
    carried: CarriedCapacity | None = None,
    kept: KeptQueue | None = None,
) -> CycleOutputs:
    """``blank``: the topology's capacity with nothing taken (``scheduler.capacity.blank_of``), which
    a caller deciding many cycles over one topology builds once; every ledger here is a copy of it.
    ``carried``: the ledger a caller keeps from one cycle to the next (``scheduler.carried``; its
    blank is the blank), changed to this cycle's started jobs instead of built from blank wherever
    that ends in the same ledger (all started jobs on the hardware now, in the usual order).
    ``kept``: the queue a caller keeps from one cycle to the next (``scheduler.queue.KeptQueue``),
    changed by the waiting jobs that came and left instead of built afresh."""
    blank = blank_of(topology, blank if carried is None else carried.blank)
    down = sorted(inputs.down)  # a set's order is no order: nodes fail in one order, the same each time
    stack, carried = _stacked(topology, inputs, blank, down, carried)
    holding = [*stack.now, *stack.queued, *stack.deeper, *stack.overlaid]
    spans = spans_of(holding) if carried is None else carried.spans(holding)
    usage = fold(inputs.history, spans, inputs.now, inputs.shares.half_life_s)
    if carried is None:
        snapshot = build_snapshot(topology, stack.now, inputs.shares, usage, down, blank=blank)
    else:  # the cycle works on the carried capacity itself, under its journal, and is reordered after
        running = dict(zip(map(attrgetter("job.id"), stack.now), stack.now, strict=True))
        snapshot = Snapshot(capacity=carried.capacity, running=running, shares=inputs.shares, usage=usage)
    try:
        queue = Queue(list(inputs.queue)) if kept is None else kept.of(inputs.queue)
        decisions = schedule(snapshot, queue, inputs.now, inputs.policy)
    finally:
        if carried is not None:
            carried.reorder()
    if not (inputs.ahead_engines and not decisions.reservations and not stack.deeper):
        return CycleOutputs(decisions=decisions)
    placed = _ahead(blank, inputs, stack, decisions, usage)
    victims = [r.placement for r in stack.now if r.job.id in {p.job_id for p in decisions.preemptions}]
    displaced = tuple(r.job.id for r in overlapping(victims, stack.queued))
    return CycleOutputs(decisions=decisions, ahead=tuple(placed), requeue=displaced)


def _stacked(
    topology: Topology, inputs: CycleInputs, blank: Capacity, down: list[int], carried: CarriedCapacity | None
) -> tuple[Layers, CarriedCapacity | None]:
    """The holding jobs in layers (``scheduler.ahead``), and ``carried``, followed to the started
    ones, where it is this cycle's ledger: every job started, each on the hardware now, in the order
    a build meets them (else None: the snapshot is built from blank)."""
    started, waiting = holding_order(inputs.holding, inputs.order)
    if carried is not None and carried.follow(started, down, usual=not inputs.order) and not waiting:
        ahead: tuple[tuple[Running, ...], ...] = ((),) * (max(1, inputs.ahead_depth) - 1)
        return Layers(now=tuple(started), ahead=ahead, deeper=()), carried
    return layers(topology, started, waiting, inputs.ahead_depth, blank=blank), None


def holding_order(holding: tuple[Held, ...], order: tuple[str, ...]) -> tuple[list[Running], list[Running]]:
    """(started, handed over but not started in hand-over order), in the order plan read them."""
    rank = {job_id: i for i, job_id in enumerate(order)}
    ordered = sorted(holding, key=lambda h: rank[h.running.job.id]) if order else usual_order(holding)
    waiting = sorted((h for h in ordered if not h.started), key=lambda h: h.handed_s)
    return [h.running for h in ordered if h.started], [h.running for h in waiting]


def _ahead(
    blank: Capacity, inputs: CycleInputs, stack: Layers, decisions: Decisions, usage: Usage
) -> list[Placement]:
    decided = {p.job_id for p in decisions.starts} | {r.job_id for r in decisions.rejections}
    rest: list[Job] = [
        j for j in inputs.queue if inputs.engines[j.id] in inputs.ahead_engines and j.id not in decided
    ]
    quiet = dataclasses.replace(inputs.policy, preemption=False)
    placed: list[Placement] = []
    for layer in stack.ahead:
        snapshot = build_snapshot(blank.topology, layer, inputs.shares, usage, blank=blank)
        later = schedule(snapshot, Queue(rest), inputs.now, quiet)
        placed += later.starts
        rest = [j for j in rest if j.id not in {p.job_id for p in later.starts}]
    return placed
