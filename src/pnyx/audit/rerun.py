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

from pnyx.audit.wire import CycleInputs, CycleOutputs, Held, usual_order
from pnyx.scheduler.ahead import Layers, layers, overlapping
from pnyx.scheduler.capacity import Capacity, blank_of
from pnyx.scheduler.cycle import schedule
from pnyx.scheduler.fairshare import Usage, fold, spans_of
from pnyx.scheduler.model import Decisions, Job, Placement, Running
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import build_snapshot
from pnyx.scheduler.topology import Topology


def decide(topology: Topology, inputs: CycleInputs, *, blank: Capacity | None = None) -> CycleOutputs:
    """``blank``: the topology's capacity with nothing taken (``scheduler.capacity.blank_of``), which
    a caller deciding many cycles over one topology builds once; every ledger here is a copy of it."""
    blank = blank_of(topology, blank)
    started, waiting = holding_order(inputs.holding, inputs.order)
    stack = layers(topology, started, waiting, inputs.ahead_depth, blank=blank)
    holding = [*stack.now, *stack.queued, *stack.deeper, *stack.overlaid]
    usage = fold(inputs.history, spans_of(holding), inputs.now, inputs.shares.half_life_s)
    down = sorted(inputs.down)  # a set's order is no order: nodes fail in one order, the same each time
    snapshot = build_snapshot(topology, stack.now, inputs.shares, usage, down, blank=blank)
    decisions = schedule(snapshot, Queue(list(inputs.queue)), inputs.now, inputs.policy)
    if not (inputs.ahead_engines and not decisions.reservations and not stack.deeper):
        return CycleOutputs(decisions=decisions)
    placed = _ahead(blank, inputs, stack, decisions, usage)
    victims = [r.placement for r in stack.now if r.job.id in {p.job_id for p in decisions.preemptions}]
    displaced = tuple(r.job.id for r in overlapping(victims, stack.queued))
    return CycleOutputs(decisions=decisions, ahead=tuple(placed), requeue=displaced)


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
