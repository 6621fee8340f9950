"""Applying a cycle's decisions to the caller's own state: what a simple dispatch loop does."""

from __future__ import annotations

from pnyx.scheduler.capacity import Capacity
from pnyx.scheduler.cycle import duration_s
from pnyx.scheduler.model import Decisions, Running
from pnyx.scheduler.queue import Queue


def apply_decisions(
    decisions: Decisions, capacity: Capacity, running: dict[str, Running], queue: Queue, now: float
) -> None:
    """Preempt (victims back to the queue), reject (out of the queue), then start."""
    for p in decisions.preemptions:
        victim = running.pop(p.job_id)
        capacity.give(victim.placement)
        queue.add(victim.job)
    for r in decisions.rejections:
        queue.remove(r.job_id)
    for placement in decisions.starts:
        job = queue.remove(placement.job_id)
        speed = capacity.topology.pools[placement.pool].speed_factor
        end = now + duration_s(job, speed)
        running[job.id] = Running(job=job, placement=placement, start_s=now, end_s=end)
        capacity.take(placement)
