"""The adapters wiring composes: each domain's view of another, behind the small Protocols those
domains declare (jobs' ``Projects``, safety's ``ProjectProposals``, ``Artifacts``, ``Members``,
``Motions`` and ``Containment``, the dispatcher's usage sink). No use case lives here: each adapter answers by
calling the owning domain's service, or reads its store where no service offers the read.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pnyx.accounting.model import JobUsage, Standing
from pnyx.accounting.service import AccountingService
from pnyx.accounting.store import UsageRepository
from pnyx.allocation.award_service import AwardService
from pnyx.allocation.conflicts import binding_team
from pnyx.allocation.model import ProjectId, Proposal
from pnyx.allocation.store import AllocationRepository, ProposalRepository
from pnyx.core.errors import Conflict, IntegrityFailure, InvalidInput, NotFound, Unavailable
from pnyx.core.ids import TokenId
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.governance.council_service import CouncilService
from pnyx.governance.motion import MotionState
from pnyx.governance.policy import ApproveRelease
from pnyx.identity.model import Principal, Role
from pnyx.identity.service import IdentityService
from pnyx.inventory.rules import CATALOGUE
from pnyx.jobs import clearance
from pnyx.jobs.inputs import ResolvedDataset
from pnyx.jobs.model import JobRecord
from pnyx.jobs.service import JobService, ProjectInfo
from pnyx.jobs.store import ArtifactRepository, JobRepository
from pnyx.jobs.submission import Submission
from pnyx.registry.evaluation_evidence import ReleaseEvidence
from pnyx.registry.lineage_rules import parse_model_artifact
from pnyx.registry.lineage_service import ModelService
from pnyx.registry.service import DatasetService
from pnyx.registry.store import DatasetRepository
from pnyx.safety.model import Label, SafetyPolicy
from pnyx.safety.rules import project_label
from pnyx.safety.service import SafetyService
from pnyx.safety.subjects import StoredArtifact


class AllocationProjects:
    """The jobs service's view of projects: an awarded allocation, its team, its standing, and its
    safety classification (its label, and whether new jobs are held for an officer)."""

    def __init__(self, awards: AwardService, accounting: AccountingService, safety: SafetyService) -> None:
        self.awards = awards
        self.accounting = accounting
        self.safety = safety

    def project(self, project_id: str) -> ProjectInfo | None:
        try:
            allocation = self.awards.allocation(project_id)
        except NotFound:
            return None
        standing = self.accounting.standing(project_id)
        classified = self.safety.ensure_classified(project_id)
        return ProjectInfo(
            id=project_id,
            member_state=allocation.member_state,
            members=frozenset({allocation.pi_user_id}),
            over_budget=standing.standing is not Standing.WITHIN_BUDGET,
            label=project_label(project_id, classified.level, classified.categories),
            holds_jobs=classified.holds_jobs,
        )


class AwardedProposals:
    """Safety's view of what a project asked for: the proposal its allocation was awarded for."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def proposal_of(self, project_id: str) -> Proposal:
        with self.uow.read() as conn:
            allocation = AllocationRepository(conn).require(ProjectId(project_id))
            return ProposalRepository(conn).require(allocation.proposal_id)


def documented_peaks() -> dict[str, Decimal]:
    """Each catalogued accelerator type's documented dense bf16 peak, in TFLOPS."""
    return {t.name: Decimal(t.peak_bf16_tflops) for t in CATALOGUE}


class MeteredUsage:
    """The dispatcher's usage sink: accounting records jobs' use, then safety re-meters each project
    from the records (idempotent: a retried or crashed cycle never counts a job twice)."""

    def __init__(self, accounting: AccountingService, safety: SafetyService) -> None:
        self.accounting = accounting
        self.safety = safety

    def record_usage(self, **usage: Any) -> object:
        record = self.accounting.record_usage(**usage)
        self.safety.meter_from_usage(record.project_id)
        return record

    def record_unmetered(self, usages: Sequence[JobUsage]) -> Sequence[object]:
        """Only the records, one transaction (each a record, or the error that refused it alone): the
        dispatcher meters each project once for a cycle's records (``metering``)."""
        return self.accounting.record_usages(usages)

    def metering(self) -> Callable[[Sequence[str]], Sequence[object]]:
        """Re-meters projects together (a cycle's); the safety policy in force read once, here."""
        return functools.partial(self._meter, self.safety.policy())

    def _meter(self, policy: SafetyPolicy, projects: Sequence[str]) -> list[object]:
        """Their usage seconds per type in one grouped read, then safety meters them in one
        transaction: each project's classification, or the error that refused it alone, in order."""
        with self.accounting.uow.read() as conn:
            seconds = UsageRepository(conn).seconds_by_project_and_type(list(projects))
        metered = self.safety.meter_from_usages({p: seconds.get(p, {}) for p in projects}, policy)
        return [metered[p] for p in projects]

    def recorded_since(self, since: datetime) -> set[str]:
        """The attempt keys accounting holds of work that ended at or after ``since`` (the
        dispatcher's usage recovery, docs/adr/0006)."""
        return self.accounting.recorded_since(since)


class JobOutputs:
    """Safety's view of an artifact: a job's output, by id ``<job id>/<path>`` (its latest attempt)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def artifact(self, artifact_id: str) -> StoredArtifact | None:
        job_id, _, path = artifact_id.partition("/")
        with self.uow.read() as conn:
            job = JobRepository(conn).get(job_id)
            outputs = [a for a in ArtifactRepository(conn).of_job(job_id) if a.path == path]
        if job is None or not outputs:
            return None
        return StoredArtifact(label=outputs[-1].label, sha256=outputs[-1].sha256, project=job.project)


class ProjectMembers:
    """Safety's view of a project's members, the jobs side's own (``jobs.clearance.is_member``): a
    member holds the project's label with its compartment; staff who are not members hold nothing."""

    def __init__(self, projects: clearance.Projects) -> None:
        self.projects = projects

    def member_clearance(self, principal: Principal, project_id: str) -> Label | None:
        project = self.projects.project(project_id)
        if project is None or not clearance.is_member(principal, project):
            return None
        return clearance.project_label(project)


class CouncilMotions:
    """Safety's view of a council motion: its state, and whether it decided a given release (a
    release gate may need an adopted motion whose effect approves that release)."""

    def __init__(self, council: CouncilService) -> None:
        self.council = council

    def motion_state(self, motion_id: str) -> str | None:
        try:
            return self.council.motion(motion_id).state.value
        except NotFound:
            return None

    def approves_release(self, motion_id: str, release_id: str) -> bool | None:
        """An adopted motion (not an amendment: that only changes its parent) whose effect is
        ``approve_release`` naming ``release_id``, in force (past its ``effective_from``)."""
        try:
            motion = self.council.motion(motion_id)
        except NotFound:
            return None
        starts = motion.effective_from
        return (
            motion.state is MotionState.ADOPTED
            and motion.amends is None
            and motion.effect == ApproveRelease(release_id=release_id)
            and (starts is None or starts <= self.council.uow.clock.now())
        )


class AwardedProjects:
    """A project exists once an allocation is awarded to it."""

    def __init__(self, awards: AwardService) -> None:
        self.awards = awards

    def project(self, project_id: str) -> object | None:
        try:
            return self.awards.allocation(project_id)
        except NotFound:
            return None


class ProjectTeam:
    """A project's team, as user ids: its allocation's PI and the team members who confirmed their
    membership of its proposal (``allocation.conflicts.binding_team``); none for an unknown project."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def __call__(self, project_id: str) -> list[str]:
        with self.uow.read() as conn:
            allocation = AllocationRepository(conn).get(ProjectId(project_id))
            if allocation is None:
                return []
            proposal = ProposalRepository(conn).require(allocation.proposal_id)
        confirmed = {m.user_id for m in binding_team(proposal) if m.user_id is not None}
        return sorted({allocation.pi_user_id, *confirmed})


class JobContainment:
    """An incident's containment, by the domains that own jobs and tokens: the project's jobs are
    preempted (``JobService.preempt_project``: held and pending ones cancelled, placed ones stopped
    at their engine, SIGTERM first), and its team's tokens (``ProjectTeam``) suspended and, when the
    incident is lifted, restored (``IdentityService``). The log names the incident as who acts."""

    ACTOR = "safety-incident"

    def __init__(self, jobs: JobService, identity: IdentityService, team: ProjectTeam) -> None:
        self.jobs = jobs
        self.identity = identity
        self.team = team

    def preempt_jobs(self, project: str, reason: str) -> list[str]:
        return self.jobs.preempt_project(project, reason)

    def suspend_tokens(self, project: str, reason: str) -> list[TokenId]:
        names = self.identity.names_of(self.team(project))
        return self.identity.suspend_tokens(names, reason=reason, by=self.ACTOR)

    def restore_tokens(self, token_ids: Sequence[str]) -> list[TokenId]:
        return self.identity.restore_tokens(token_ids, by=self.ACTOR)


class RegistryInputs:
    """The jobs service's view of dataset versions (``jobs.inputs.DatasetInputs``): the registry's
    version for a job of the submitter's under the job's label (``DatasetService.job_input``), its
    directory (made by the registry if missing) and its label. A version the registry does not give
    the job is None: one answer for none and not readable. The registry's other refusals keep their
    kind and code and name ``datasets``, as the submission calls the field. ``registry`` is called at
    submission (the registry is built after the jobs service)."""

    def __init__(self, registry: Callable[[], DatasetService]) -> None:
        self.registry = registry

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None:
        try:
            found = self.registry().job_input(principal, version, job)
        except NotFound:
            return None
        except (Conflict, InvalidInput, Unavailable) as exc:
            raise type(exc)(exc.message, field="datasets", code=exc.code) from exc
        return ResolvedDataset(path=found.path, label=found.version.label)


class RegistryModels:
    """The jobs service's view of model versions (``jobs.inputs.ModelInputs``), as
    ``RegistryInputs`` is of dataset versions (``ModelService.job_input``); refusals name ``models``."""

    def __init__(self, registry: Callable[[], ModelService]) -> None:
        self.registry = registry

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None:
        try:
            path, label = self.registry().job_input(principal, version, job)
        except NotFound:
            return None
        except (Conflict, InvalidInput, Unavailable, IntegrityFailure) as exc:
            raise type(exc)(exc.message, field="models", code=exc.code) from exc
        return ResolvedDataset(path=path, label=label)


class RegistryWithdrawals:
    """The dispatcher's view of dataset versions (``dispatch.inputs.WithdrawnVersions``): which of
    the versions its jobs read a takedown withdrew, with each one's successor, in one read."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def withdrawn(self, versions: Collection[str]) -> dict[str, str | None]:
        with self.uow.read() as conn:
            return DatasetRepository(conn).withdrawn(list(versions))


class RegistryEvaluations:
    """Safety's view of evaluation results (``release_service.EvaluationEvidence``): for a model
    version's file, the registry's stored, signed, passing results of that version
    (``registry.evaluation_evidence``); any other artifact's evaluations stay attested by name."""

    def __init__(self, evidence: ReleaseEvidence) -> None:
        self.evidence = evidence

    def missing(self, artifact: str, name: str) -> str | None:
        parsed = parse_model_artifact(artifact)
        return None if parsed is None else self.evidence.missing(parsed[0], name)


class ReproductionJobs:
    """The evaluation reproductions' view of jobs (``evaluation_reproduce.ReproductionJobs``): the
    jobs service's, where an auditor submits the reproduction job the registry built (its command
    and inputs fixed) as a researcher submits one; membership of the project and clearance for the
    inputs are checked as for anyone. Operators submit as themselves."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    def submit(self, principal: Principal, s: Submission) -> JobRecord:
        if Role.OPERATOR not in principal.roles:
            principal = dataclasses.replace(principal, roles=principal.roles | {Role.RESEARCHER})
        return self.jobs.submit(principal, s)

    def get(self, principal: Principal, job_id: str) -> JobRecord:
        return self.jobs.get(principal, job_id)
