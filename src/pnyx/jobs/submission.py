"""What a researcher submits, and the job it becomes (pure: the service does the I/O).

The job runs at its project's level unless it asks for a higher one (below is refused, naming the
label); an over-budget project's entitled work becomes preemptible; while the project's level awaits
an officer, the job waits in ``held_for_safety``. The job's ``reason`` says each of these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pnyx.core.errors import Forbidden, InvalidInput
from pnyx.identity.model import Principal, Role
from pnyx.jobs.clearance import ProjectInfo, job_label
from pnyx.jobs.model import InputKind, JobRecord, JobStatus, JobSubmitted
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    name: str
    project: str
    accelerators: int
    estimate_s: int
    accelerator_type: str | None = None
    command: tuple[str, ...] = ()
    image: str | None = None
    checkpoint_s: int = 0
    label: SafetyLevel | None = None  # None: the project's level; below it is refused
    priority_class: PriorityClass = PriorityClass.ENTITLED
    engine: str | None = None
    allow_cross_site: bool = False
    datasets: tuple[str, ...] = ()  # dataset versions it reads (``jobs.inputs``)
    models: tuple[str, ...] = ()  # model versions it reads (``jobs.inputs``), at /inputs/<version> too


FitCheck = Callable[[JobRecord], None]  # raises when the job could never run on this facility


def check_member(principal: Principal, project: ProjectInfo) -> None:
    """Members submit to their project (any researcher where it names none); operators to any."""
    if project.members and principal.user_id not in project.members and Role.OPERATOR not in principal.roles:
        raise Forbidden(f"{principal.name} is not a member of project {project.id}", field="project")


def draft(
    principal: Principal, s: Submission, *, job_id: str, engine: str, project: ProjectInfo, now: datetime
) -> JobRecord:
    """The job as it will be stored (the service sets the transaction's time as its submission)."""
    label = job_label(project, s.label)  # below the project's level: refused here
    priority = s.priority_class
    notes = []
    if project.over_budget and priority is PriorityClass.ENTITLED:
        priority = PriorityClass.PREEMPTIBLE
        notes.append(
            f"project {s.project} has used its allocation: the job runs opportunistically (preemptible)"
        )
    if project.holds_jobs:
        notes.append(held_note(s.project))
    return JobRecord(
        id=job_id,
        name=s.name or "job",
        project=s.project,
        user=principal.name,
        engine=engine,
        accelerator_type=s.accelerator_type,
        accelerators=s.accelerators,
        estimate_s=s.estimate_s,
        checkpoint_s=s.checkpoint_s,
        priority_class=priority,
        label=label,
        status=JobStatus.HELD_FOR_SAFETY if project.holds_jobs else JobStatus.PENDING,
        submitted_at=now,
        command=tuple(s.command),
        image=s.image,
        member_state=project.member_state,
        allow_cross_site=s.allow_cross_site,
        reason="; ".join(notes),
    )


def held_note(project: str) -> str:
    return f"project {project}'s safety level awaits an officer: the job is held until then"


def released_reason(job: JobRecord) -> str:
    """The job's reason once its hold is released: the hold's note replaced, other notes kept."""
    released = f"project {job.project}'s safety level confirmed: released to the queue"
    held = held_note(job.project)
    return job.reason.replace(held, released) if held in job.reason else released


RAISED = "raised to "


def raised_reason(job: JobRecord, label: Label) -> str:
    """The job's reason once raised to ``label``: its other notes kept, an earlier raise replaced."""
    note = f"{RAISED}{label}: project {job.project}'s level rose while it waited; it never runs below it"
    notes = [n for n in job.reason.split("; ") if n and not n.startswith(RAISED)]
    return "; ".join([*notes, note])


def texts(s: Submission) -> dict[str, str | None]:
    """The submission's free texts, by field, for the storable-text check."""
    return {f: getattr(s, f) for f in ("name", "project", "accelerator_type", "image", "engine")}


def priority_class(principal: Principal, value: str) -> PriorityClass:
    """The submitted class (Python callers may pass its value); urgent work is operators' only."""
    try:
        priority = PriorityClass(value)
    except ValueError:
        known = ", ".join(PriorityClass)
        raise InvalidInput(f"priority class is one of {known}", field="priority_class") from None
    if priority is PriorityClass.URGENT and Role.OPERATOR not in principal.roles:
        raise Forbidden("only operators submit urgent work (the director's reserve)", field="priority_class")
    return priority


def submitted(job: JobRecord) -> JobSubmitted:
    return JobSubmitted(
        job_id=job.id,
        project=job.project,
        user=job.user,
        accelerators=job.accelerators,
        accelerator_type=job.accelerator_type,
        label=str(job.label),
        priority_class=job.priority_class.value,
        engine=job.engine,
        status=job.status.value,
        note=job.reason,
        datasets=tuple(i.version for i in job.inputs if i.kind is InputKind.DATASET),
        models=tuple(i.version for i in job.inputs if i.kind is InputKind.MODEL),
    )
