"""The jobs' read paths: a job's record for whoever may see it, its outputs (artifacts and logs)
only for whoever is cleared for their label (``clearance``), and the records release decisions
published of them for whoever is cleared for the release's lower label (the original keeps its
label). Outputs an open incident froze are read by nobody. A refusal names the label or the
incident; it is never an empty answer. Reads change nothing and log nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import NoReturn

from pnyx.core.errors import Forbidden, NotFound
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.jobs.clearance import (
    ProjectInfo,
    Projects,
    check_read,
    is_staff,
    may_read_outputs,
    may_read_released,
    may_see,
    outputs_label,
)
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineRef, JobArtifact, JobRecord, JobStatus
from pnyx.jobs.store import ArtifactRepository, JobRepository
from pnyx.jobs.subjects import Freezes, Releases, artifact_id, check_thawed
from pnyx.safety.model import Label, SafetyPolicy


class JobReads:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        projects: Projects,
        executors: Mapping[str, Executor],
        policy: SafetyPolicy,
        freezes: Freezes,
        releases: Releases,
    ) -> None:
        self.uow = uow
        self.projects = projects
        self.executors = executors
        self.policy = policy
        self.freezes = freezes
        self.releases = releases

    def get(self, principal: Principal, job_id: str) -> JobRecord:
        with self.uow.read() as conn:
            job = JobRepository(conn).get(job_id)
        if job is None or not self.visible(principal, job):
            raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
        return job

    def visible(self, principal: Principal, job: JobRecord) -> bool:
        """Its owner and staff without asking allocation; its project's members after asking."""
        return may_see(principal, job, None) or may_see(principal, job, self.projects.project(job.project))

    def logs(self, principal: Principal, job_id: str, tail_lines: int = 200) -> str:
        """The job's output, for whoever is cleared for its outputs' label; empty before its engine
        has it."""
        job = self.get(principal, job_id)
        self.check_cleared(principal, job, outputs_label(job))
        with self.uow.read() as conn:
            found = ArtifactRepository(conn).of_job(job_id)
        self._check_thawed(job, found)  # the log is an output of the same job as its files
        executor = self.executors.get(job.engine)
        if job.engine_job_id is None or executor is None:
            return ""
        return executor.logs(EngineRef(engine=job.engine, engine_job_id=job.engine_job_id), tail_lines)

    def artifacts(self, principal: Principal, job_id: str) -> list[JobArtifact]:
        """The job's outputs for whoever is cleared for every one; else the released records of its
        outputs that ``principal`` is cleared for, each under its release's label. Refused, naming
        the label, when neither; naming the incident, when what would be read is frozen."""
        with self.uow.read() as conn:
            job = JobRepository(conn).get(job_id)
            found = ArtifactRepository(conn).of_job(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
        project = self.projects.project(job.project)
        if self._may_read_all(principal, job, project, found):
            return self._check_thawed(job, found)
        released = self._released(principal, project, found)
        if not released:
            self._refuse(principal, job_id, found)
        return self._check_thawed(job, released)

    def _may_read_all(
        self, principal: Principal, job: JobRecord, project: ProjectInfo | None, found: list[JobArtifact]
    ) -> bool:
        if project is None or not may_see(principal, job, project):
            return False
        labels = {outputs_label(job), *(a.label for a in found)}
        return all(may_read_outputs(principal, project, label, self.policy) for label in labels)

    def _released(
        self, principal: Principal, project: ProjectInfo | None, found: list[JobArtifact]
    ) -> list[JobArtifact]:
        """Each output's first released record (of the same content) that ``principal`` may read,
        under the release's label; the original record is left as it is."""
        readable = (self._released_record(principal, project, a) for a in found)
        return [a for a in readable if a is not None]

    def _released_record(
        self, principal: Principal, project: ProjectInfo | None, a: JobArtifact
    ) -> JobArtifact | None:
        for r in self.releases.released_of(artifact_id(a.job_id, a.path)):
            if r.sha256 == a.sha256 and may_read_released(principal, project, r.label, self.policy):
                return dataclasses.replace(a, label=r.label, release=r.release_id)
        return None

    def _refuse(self, principal: Principal, job_id: str, found: list[JobArtifact]) -> NoReturn:
        """Raise what refuses ``principal`` the job's outputs: not found, or the label not cleared."""
        job = self.get(principal, job_id)
        for label in [outputs_label(job), *sorted({a.label for a in found}, key=str)]:
            self.check_cleared(principal, job, label)
        raise Forbidden(  # cleared meanwhile (the project's level changed): ask again
            f"the clearance for job {job_id}'s outputs changed while they were read; try again",
            field="job_id",
            code="clearance_insufficient",
        )

    def _check_thawed(self, job: JobRecord, outputs: Sequence[JobArtifact]) -> list[JobArtifact]:
        check_thawed(self.freezes, job.project, [artifact_id(a.job_id, a.path) for a in outputs])
        return list(outputs)

    def check_cleared(self, principal: Principal, job: JobRecord, label: Label) -> None:
        project = self.projects.project(job.project)
        if project is None:
            raise Forbidden(
                f"project {job.project} is unknown here: nobody is cleared for its outputs ({label})",
                field="job_id",
                code="clearance_insufficient",
            )
        check_read(principal, project, label, self.policy)

    def search(
        self,
        principal: Principal,
        *,
        status: JobStatus | None = None,
        mine: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRecord]:
        """Records, not outputs: researchers see their own; staff (auditors included) see all."""
        require_role(principal, *Role)
        user = principal.name if mine or not is_staff(principal) else None
        with self.uow.read() as conn:
            return JobRepository(conn).search(user=user, status=status, limit=limit, offset=offset)
