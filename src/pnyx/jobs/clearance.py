"""Labels and clearance on the jobs side (pure): the level a job runs at, the one place its outputs
get their label, and who may read them.

A project's label is its classification (level and categories) plus its own ``project:<id>``
category, so another project's clearance never dominates it. Clearance for a project:

- its members hold the project's label;
- operators, auditors and safety officers (staff) hold L1 with the project's categories: they see
  every job's record, and its outputs only at L1 (an auditor checks metadata, not weights);
- anyone else holds none.

Reading outputs (artifacts and logs) needs ``safety.rules.may_read(clearance, label, policy,
human=True)``: at a level whose readers are jobs only, no person reads them at all. A release
decision's record of an output is read under its own, lower label (``may_read_released``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from pnyx.core.errors import Forbidden
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import JobRecord
from pnyx.safety import rules as safety
from pnyx.safety.model import Label, Readers, SafetyLevel, SafetyPolicy

STAFF_ROLES = frozenset({Role.OPERATOR, Role.AUDITOR, Role.SAFETY_OFFICER})
UNCLASSIFIED = Label(level=SafetyLevel.L1)  # a project given no label (test fakes): L1
PUBLIC = Label(level=SafetyLevel.L1)  # L1, no category: what every signed-in person is cleared for


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectInfo:
    """What the jobs service needs to know about a project (allocation, accounting, safety).

    ``label``: the project's classification (fakes that give none are L1); the service adds the
    project's own category whatever is given. ``holds_jobs``: its level awaits an officer, so new
    jobs wait in ``held_for_safety``."""

    id: str
    member_state: str | None
    members: frozenset[str]  # user ids of the team; empty: anyone with the researcher role
    over_budget: bool
    label: Label = UNCLASSIFIED
    holds_jobs: bool = False


class Projects(Protocol):
    def project(self, project_id: str) -> ProjectInfo | None: ...


def project_label(project: ProjectInfo) -> Label:
    """The project's label with its own ``project:<id>`` category, however it was given."""
    return safety.project_label(project.id, project.label.level, project.label.categories)


def job_label(project: ProjectInfo, requested: SafetyLevel | None) -> Label:
    """A job runs at its project's level (``None``) or above, never below (InvalidInput on label)."""
    home = project_label(project)
    if requested is None:
        return home
    safety.check_job_level(requested, home.level)
    return replace(home, level=requested)


def raised_to_project(label: Label, project: ProjectInfo) -> Label:
    """A waiting job's label joined with its project's current one: what it runs at once its
    project's level rose while it waited (unchanged when it already dominates the project's)."""
    return safety.join(label, project_label(project))


def outputs_label(job: JobRecord, inputs: Iterable[Label] = (), project: Label | None = None) -> Label:
    """The one place outputs (files and logs) get their label: the job's label joined with its
    inputs' (the dataset versions it read, ``job.inputs``, and any ``inputs`` given: no write down),
    and with its project's label now (a project whose level rose while the job ran gets its outputs
    at the new level)."""
    ran_as = job.label if project is None else safety.join(job.label, project)
    return safety.output_label(ran_as, [*(i.label for i in job.inputs), *inputs])


def is_member(principal: Principal, project: ProjectInfo) -> bool:
    if project.members:
        return principal.user_id in project.members
    return Role.RESEARCHER in principal.roles


def in_team(principal: Principal, project: ProjectInfo) -> bool:
    """One of the project's named team (no "any researcher" for a project without one): who may
    use its SME workspace, and submit jobs that read it or write to it."""
    return principal.user_id in project.members


def is_staff(principal: Principal) -> bool:
    return bool(principal.roles & STAFF_ROLES)


def clearance(principal: Principal, project: ProjectInfo) -> Label | None:
    """The highest label ``principal`` may read in ``project``; ``None``: nothing at all."""
    if is_member(principal, project):
        return project_label(project)
    if is_staff(principal):
        return safety.project_label(project.id, SafetyLevel.L1, project.label.categories)
    return None


def may_see(principal: Principal, job: JobRecord, project: ProjectInfo | None) -> bool:
    """A job's record (not its outputs): its owner, staff, and its project's members."""
    if job.user == principal.name or is_staff(principal):
        return True
    return project is not None and is_member(principal, project)


def may_read_outputs(principal: Principal, project: ProjectInfo, label: Label, policy: SafetyPolicy) -> bool:
    held = clearance(principal, project)
    return held is not None and safety.may_read(held, label, policy, human=True)


def may_read_released(
    principal: Principal, project: ProjectInfo | None, label: Label, policy: SafetyPolicy
) -> bool:
    """A release's record (``label``: the release's lower label) for whoever's clearance covers it:
    their clearance in the artifact's project, or else the plain L1 every signed-in person holds (a
    release to plain L1 is public). The original artifact keeps its own label."""
    if not principal.authenticated:
        return False
    held = clearance(principal, project) if project is not None else None
    return safety.may_read(held or PUBLIC, label, policy, human=True)


def check_read(principal: Principal, project: ProjectInfo, label: Label, policy: SafetyPolicy) -> None:
    """Refuse, naming the label, what ``principal`` is not cleared to read (never an empty answer)."""
    if may_read_outputs(principal, project, label, policy):
        return
    held = clearance(principal, project)
    if policy.of(label.level).readers is Readers.JOBS_ONLY:
        why = f"at {label.level.name} only jobs read outputs"
    else:
        why = f"{principal.name} holds {held or 'none'}"
    raise Forbidden(
        f"reading outputs labelled {label} needs clearance at or above it; {why}",
        field="job_id",
        code="clearance_insufficient",
    )
