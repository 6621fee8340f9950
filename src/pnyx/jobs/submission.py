"""What a researcher submits, and the job it becomes (pure: the service does the I/O).

The job runs at its project's level unless it asks for a higher one (below is refused, naming the
label); an over-budget project's entitled work becomes preemptible; while the project's level awaits
an officer, the job waits in ``held_for_safety``. The job's ``reason`` says each of these.

A job of a project with an active SME workspace is a *workspace job*: it runs on the local engine
only, its outputs leave its sandbox sealed to the workspace's key, and it may read objects of that
workspace (``workspace_objects``, never another's). One that reads objects waits in
``awaiting_keys`` until its SME authorises it (``workspaces.authorisation``). Sealing is sticky: a
project whose workspace was shredded takes no job until a new workspace is created, so its SME's
jobs never silently run unsealed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pnyx.core.errors import Conflict, Forbidden, InvalidInput
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
    workspace_objects: tuple[
        str, ...
    ] = ()  # objects of its project's SME workspace it reads (decrypted inside)


SEALED_ENGINE = "local"  # the one engine that keeps a workspace job sealed (keys through memory only)
MAX_WORKSPACE_OBJECTS = 64  # objects one workspace job may read
OBJECT_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceState:
    """A project's SME workspaces as its jobs see them."""

    project: str
    active: str | None = None  # the id of its active workspace
    shredded: bool = False  # it has had a workspace, and none is active now


class Workspaces(Protocol):
    """What jobs ask of SME workspaces (wiring fills it from the workspaces domain)."""

    def of_project(self, project: str) -> WorkspaceState:
        """The project's active workspace, or whether it had one that was shredded (one read)."""
        ...

    def held(self, workspace_id: str, object_ids: Collection[str]) -> frozenset[str]:
        """Those of ``object_ids`` that workspace holds (and can still open)."""
        ...


class NoWorkspaces:
    """No workspace anywhere: what a service built without the workspaces domain knows."""

    def of_project(self, project: str) -> WorkspaceState:
        return WorkspaceState(project=project)

    def held(self, workspace_id: str, object_ids: Collection[str]) -> frozenset[str]:
        return frozenset()


def check_sealed(engine: str, state: WorkspaceState, named: Sequence[str]) -> tuple[str, ...]:
    """The objects a submission names, when its project's workspaces (``state``) allow them: none
    while its workspace is shredded and no new one is active (its jobs would run unsealed); a
    workspace job runs on the local engine; objects need a workspace; at most
    ``MAX_WORKSPACE_OBJECTS``, each named once."""
    workspace = state.active
    if workspace is None and state.shredded:
        raise Conflict(
            f"project {state.project} takes no jobs: its SME workspace was shredded: create a new "
            "workspace before running jobs (they would otherwise run unsealed)",
            field="project",
            code="workspace_shredded",
        )
    if workspace is None and named:
        raise InvalidInput(
            "workspace objects need an SME workspace of the job's project", field="workspace_objects"
        )
    if workspace is not None and engine != SEALED_ENGINE:
        raise InvalidInput(
            f"a job of an SME workspace runs on the {SEALED_ENGINE} engine only (its keys never touch a "
            f"shared disk); not {engine}",
            field="engine",
            code="engine_not_sealed",
        )
    if len(named) > MAX_WORKSPACE_OBJECTS or len(set(named)) != len(named):
        raise InvalidInput(
            f"at most {MAX_WORKSPACE_OBJECTS} workspace objects, each named once", field="workspace_objects"
        )
    return tuple(named)


def check_held(project: str, named: Sequence[str], held: Collection[str]) -> None:
    """Every named object is the workspace's: one answer for ill-formed, unknown and another's."""
    for object_id in named:
        if not OBJECT_ID.match(object_id) or object_id not in held:
            raise InvalidInput(
                f"workspace object {object_id[:40]!r} is not in project {project}'s workspace",
                field="workspace_objects",
                code="workspace_object_unknown",
            )


FitCheck = Callable[[JobRecord], None]  # raises when the job could never run on this facility


def check_member(principal: Principal, project: ProjectInfo) -> None:
    """Members submit to their project (any researcher where it names none); operators to any."""
    if project.members and principal.user_id not in project.members and Role.OPERATOR not in principal.roles:
        raise Forbidden(f"{principal.name} is not a member of project {project.id}", field="project")


def draft(
    principal: Principal,
    s: Submission,
    *,
    job_id: str,
    engine: str,
    project: ProjectInfo,
    now: datetime,
    workspace: str | None = None,
) -> JobRecord:
    """The job as it will be stored (the service sets the transaction's time as its submission).
    ``workspace``: its project's active SME workspace (its objects checked by the service)."""
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
    if s.workspace_objects:
        notes.append(AWAITING_NOTE)
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
        status=first_status(project, s),
        submitted_at=now,
        command=tuple(s.command),
        image=s.image,
        member_state=project.member_state,
        allow_cross_site=s.allow_cross_site,
        reason="; ".join(notes),
        workspace_id=workspace,
        sealed_inputs=len(s.workspace_objects),
    )


AWAITING_NOTE = "it reads sealed workspace objects: it waits for its SME to authorise it (pnyx sme authorize)"


def first_status(project: ProjectInfo, s: Submission) -> JobStatus:
    """Held while its project's level awaits an officer; else awaiting keys when it reads workspace
    objects; else pending."""
    if project.holds_jobs:
        return JobStatus.HELD_FOR_SAFETY
    return JobStatus.AWAITING_KEYS if s.workspace_objects else JobStatus.PENDING


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
        sealed_inputs=job.sealed_inputs,
    )
