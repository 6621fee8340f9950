"""Pure translations of a stored job: into what an engine takes, and into the scheduler's view."""

from __future__ import annotations

from datetime import datetime

from pnyx.dispatch.faults import bounded
from pnyx.jobs.changes import Act
from pnyx.jobs.model import EngineRef, EngineStatus, Grant, JobAction, JobRecord, JobSpec
from pnyx.jobs.rules import FINISH_ACTIONS, clamp_engine_times, engine_action, placement_of, to_scheduler_job
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.cycle import duration_s
from pnyx.scheduler.model import Placement, Running
from pnyx.scheduler.topology import Topology


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
        safety_level=job.level,
        time_limit_s=job.estimate_s,
        command=job.command,
        image=job.image,
        inputs=job.inputs,
    )


def grant_of(job: JobRecord, topology: Topology | None = None) -> Grant:
    """Where the job was placed, with the certification of those nodes where the inventory knows them
    (a job may run on nodes certified above its level: the engine needs their partition, not its own)."""
    return Grant(node_ids=job.node_ids, counts=job.counts, certification=certification_of(job, topology))


def certification_of(job: JobRecord, topology: Topology | None) -> SafetyLevel | None:
    if topology is None or not job.node_ids or job.node_ids[0] not in topology.index_of:
        return None
    return topology.pools[topology.node_pool[topology.index_of[job.node_ids[0]]]].level


def ref_of(job: JobRecord) -> EngineRef:
    assert job.engine_job_id is not None
    return EngineRef(engine=job.engine, engine_job_id=job.engine_job_id)


def running_of(job: JobRecord, topology: Topology, now: datetime) -> Running:
    """The stored job as running since it started (or was handed over), until its estimate runs out on
    its pool (an untyped job's estimate scales with the pool's speed, as in the twin)."""
    start = (job.started_at or job.dispatched_at or now).timestamp()
    wanted, placement = to_scheduler_job(job), placement_of(job, topology)
    speed = topology.pools[placement.pool].speed_factor
    return Running(job=wanted, placement=placement, start_s=start, end_s=start + duration_s(wanted, speed))


def dispatch_act(placement: Placement) -> Act:
    """The scheduler's start decision as the job's change: placed, its hand-over time stamped."""
    fields = {
        "node_ids": placement.node_ids,
        "counts": placement.counts,
        "placed_type": placement.accelerator_type,
    }
    return Act(placement.job_id, JobAction.DISPATCH, fields, dispatch=True)


def requeue_act(job: JobRecord, by: str, lost_s: float) -> Act:
    """A preempted job back to the queue: a new attempt, a new key (``jobs.changes.REQUEUED``)."""
    reason = f"preempted by {by}; {lost_s:.0f} s of work since the last checkpoint lost"
    return Act(job.id, JobAction.REQUEUE, {"reason": reason}, requeue=True)


def reject_act(job_id: str, reason: str) -> Act:
    """A job the scheduler found can never fit: rejected, with the scheduler's reason."""
    return Act(job_id, JobAction.REJECT, {"reason": reason})


def confirm_act(job: JobRecord, ref: EngineRef) -> Act:
    """The engine has the job (QUEUED until it says the job runs)."""
    return Act(job.id, JobAction.CONFIRM, {"engine_job_id": ref.engine_job_id})


def starting(job: JobRecord, status: EngineStatus) -> bool:
    """The engine runs a job Pnyx holds as queued (QUEUED -> RUNNING)."""
    return engine_action(job.status, status.state) is JobAction.START


def ending(_job: JobRecord, status: EngineStatus) -> bool:
    """The engine has let the job go: it succeeded, failed or was cancelled (the job closes)."""
    return status.state in FINISH_ACTIONS


def end_act(job: JobRecord, status: EngineStatus, now: datetime) -> Act:
    """The job closes as its engine says (``ending``): its exit, the engine's word, its times bounded."""
    action = FINISH_ACTIONS[status.state]
    reason = "cancelled" if job.cancel_requested and action is JobAction.CANCEL else status.message
    started_at, ended_at = clamp_engine_times(job, status.started_at, status.ended_at, now=now)
    fields = {"exit_code": status.exit_code, "reason": bounded(reason), "started_at": started_at}
    return Act(job.id, action, {**fields, "ended_at": ended_at})


def start_act(job: JobRecord, status: EngineStatus, now: datetime) -> Act:
    """The job runs since the engine says (bounded: ``clamp_engine_times``), else since now."""
    started_at, _ = clamp_engine_times(job, status.started_at, None, now=now)
    return Act(job.id, JobAction.START, {"started_at": started_at or now})
