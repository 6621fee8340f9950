"""Preemption: urgent and entitled work takes capacity back from opportunistic work.

Victims are chosen lowest class first, then by the least work they would lose (accelerators x
seconds since their last checkpoint). They are released one by one until the job fits; victims
whose nodes the job did not end up using are put back, so nobody is preempted for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pnyx.scheduler.backfill import first_fit_after
from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.model import Job, Placement, PriorityClass, Running
from pnyx.scheduler.topology import Topology

VICTIM_CLASSES: dict[PriorityClass, tuple[PriorityClass, ...]] = {
    PriorityClass.URGENT: (PriorityClass.PREEMPTIBLE, PriorityClass.ENTITLED),
    PriorityClass.ENTITLED: (PriorityClass.PREEMPTIBLE,),
    PriorityClass.PREEMPTIBLE: (),
}


def candidates(job: Job, pools: tuple[int, ...], running: Iterable[Running], now: float) -> list[Running]:
    """Running jobs ``job`` may preempt, in the order it would preempt them."""
    classes = VICTIM_CLASSES[job.priority_class]
    if not classes:
        return []
    eligible = set(pools)
    out = [r for r in running if r.job.priority_class in classes and r.placement.pool in eligible]
    out.sort(key=lambda r: (classes.index(r.job.priority_class), lost_work(r, now), r.job.id))
    return out


def lost_work(running: Running, now: float) -> float:
    """Accelerator-seconds lost if ``running`` stopped now."""
    return running.lost_work_s(now) * running.placement.accelerators


def preempt(
    give: Callable[[Placement], None],
    target: Capacity,
    job: Job,
    pools: tuple[int, ...],
    victims: Sequence[Running],
) -> tuple[list[Running], Placement] | None:
    """The fewest leading victims after which ``job`` fits on ``target``, pruned to those whose nodes
    the gang uses; each is released by ``give`` (on every ledger the caller keeps). None, with nothing
    changed, if it never fits."""
    if not could_free_enough(target.topology, target.free_in(pools), job, victims):
        return None
    found = first_fit_after(target, job, pools, [v.placement for v in victims])
    if found is None:
        return None
    index, placement = found
    used = set(placement.nodes)
    chosen = [v for v in victims[: index + 1] if not used.isdisjoint(v.placement.nodes)]
    for victim in chosen:
        give(victim.placement)
    return chosen, placement


def could_free_enough(topology: Topology, free: int, job: Job, victims: Sequence[Running]) -> bool:
    """A cheap upper bound: ``free`` (the job's pools' free accelerators now) plus everything the
    victims hold."""
    if free >= job.accelerators:
        return True
    for v in victims:
        free += (
            sum(topology.node_cap[n] for n in v.placement.nodes)
            if v.placement.exclusive
            else v.placement.accelerators
        )
        if free >= job.accelerators:
            return True
    return False
