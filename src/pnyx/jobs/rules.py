"""Pure job rules: the one transition function, and what a submission must satisfy."""

from __future__ import annotations

from pnyx.core.errors import InvalidInput
from pnyx.inventory.model import SafetyLevel
from pnyx.jobs.model import JOB_TRANSITIONS, InvalidJobTransition, JobAction, JobRecord, JobStatus
from pnyx.scheduler.model import Job, Placement, PriorityClass
from pnyx.scheduler.topology import Topology

MAX_ESTIMATE_S = 14 * 24 * 3600  # two weeks: longer work must checkpoint and resubmit
MAX_COMMAND_ARGS = 256


def transition(status: JobStatus, action: JobAction) -> JobStatus:
    """The one place a job's status changes."""
    try:
        return JOB_TRANSITIONS[status, action]
    except KeyError:
        raise InvalidJobTransition(f"a {status} job cannot {action}", field="status") from None


def validate_submission(
    *, accelerators: int, estimate_s: int, checkpoint_s: int, command: tuple[str, ...], image: str | None
) -> None:
    if accelerators <= 0:
        raise InvalidInput("a job needs at least one accelerator", field="accelerators")
    if not 0 < estimate_s <= MAX_ESTIMATE_S:
        raise InvalidInput(
            f"the runtime estimate must be 1 s to {MAX_ESTIMATE_S} s (14 days)", field="estimate_s"
        )
    if checkpoint_s < 0:
        raise InvalidInput("the checkpoint interval cannot be negative", field="checkpoint_s")
    if not command and not image:
        raise InvalidInput("a job needs a command or a container image", field="command")
    if len(command) > MAX_COMMAND_ARGS or any("\0" in a for a in command):
        raise InvalidInput("the command is too long or holds a NUL byte", field="command")


def to_scheduler_job(record: JobRecord) -> Job:
    """The scheduler's view of a stored job (time as epoch seconds)."""
    return Job(
        id=record.id,
        accelerators=record.accelerators,
        estimate_s=float(record.estimate_s),
        accelerator_type=record.accelerator_type,
        member=record.member_state or "-",
        project=record.project,
        user=record.user,
        priority_class=PriorityClass(record.priority_class),
        label=record.label,
        checkpoint_s=float(record.checkpoint_s),
        allow_cross_site=record.allow_cross_site,
        submit_s=record.submitted_at.timestamp(),
    )


def placement_of(record: JobRecord, topology: Topology) -> Placement:
    """The stored placement of a dispatched or running job, as the scheduler's ``Placement``."""
    nodes = tuple(topology.index_of[n] for n in record.node_ids)
    return Placement(
        job_id=record.id,
        accelerator_type=record.placed_type or record.accelerator_type or "",
        node_ids=record.node_ids,
        counts=record.counts,
        nodes=nodes,
        pool=topology.node_pool[nodes[0]],
        exclusive=record.label >= SafetyLevel.L2,
    )
