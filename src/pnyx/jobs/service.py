"""Job use cases: researchers submit and cancel; the dispatch loop moves jobs through their lifecycle.

Every change goes through ``rules.transition`` and emits a ``JobStateChanged`` event in the same
transaction, so the public log holds each job's whole history (without its command line).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pnyx.core.errors import Forbidden, InvalidInput, NotFound
from pnyx.core.ids import new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import (
    ACTIVE_JOB_STATUSES,
    HOLDING_STATUSES,
    Artifact,
    EngineRef,
    JobAction,
    JobArtifact,
    JobRecord,
    JobStateChanged,
    JobStatus,
    JobSubmitted,
    OutputsRecorded,
)
from pnyx.jobs.rules import outputs_manifest, transition, validate_submission
from pnyx.jobs.store import ArtifactRepository, JobRepository, completed_without_artifacts
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.model import PriorityClass


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectInfo:
    id: str
    member_state: str | None
    members: frozenset[str]  # user ids of the team; empty: anyone with the researcher role
    over_budget: bool


class Projects(Protocol):
    """What the jobs service needs to know about a project (from allocation and accounting)."""

    def project(self, project_id: str) -> ProjectInfo | None: ...


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
    label: SafetyLevel = SafetyLevel.L1
    priority_class: PriorityClass = PriorityClass.ENTITLED
    engine: str | None = None
    allow_cross_site: bool = False


FitCheck = Callable[[JobRecord], None]  # raises when the job could never run on this facility


class JobService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        projects: Projects,
        fits: FitCheck,
        executors: Mapping[str, Executor],
        default_engine: str,
    ) -> None:
        self.uow = uow
        self.projects = projects
        self.fits = fits
        self.executors = executors
        self.default_engine = default_engine

    # --- researchers -----------------------------------------------------------------------------

    def submit(self, principal: Principal, s: Submission) -> JobRecord:
        """Every check first, each on its own short connection, then one transaction that only writes:
        holding two pooled connections at once, requests under load would starve the pool."""
        require_role(principal, Role.RESEARCHER, Role.OPERATOR)
        validate_submission(
            accelerators=s.accelerators,
            estimate_s=s.estimate_s,
            checkpoint_s=s.checkpoint_s,
            command=tuple(s.command),
            image=s.image,
            texts=_texts(s),
        )
        engine = self._engine(s.engine)
        s = dataclasses.replace(s, priority_class=_priority_class(principal, s.priority_class))
        draft = self._draft(principal, s, engine, self._project(principal, s.project))
        self.fits(draft)  # a job that can never fit is refused now, never left waiting for ever
        with self.uow.write() as tx:
            job = dataclasses.replace(draft, submitted_at=tx.now)
            JobRepository(tx.conn).add(job)
            tx.emit(_submitted(job))
        return job

    def _engine(self, requested: str | None) -> str:
        engine = requested or self.default_engine
        if engine not in self.executors:
            raise InvalidInput(
                f"the {engine!r} engine is not configured here; configured: "
                f"{', '.join(sorted(self.executors))}",
                field="engine",
                code="engine_not_configured",
            )
        return engine

    def _project(self, principal: Principal, project_id: str) -> ProjectInfo:
        project = self.projects.project(project_id)
        if project is None:
            raise NotFound(f"unknown project {project_id!r}", field="project", code="project_unknown")
        if (
            project.members
            and principal.user_id not in project.members
            and Role.OPERATOR not in principal.roles
        ):
            raise Forbidden(f"{principal.name} is not a member of project {project_id}", field="project")
        return project

    def _draft(self, principal: Principal, s: Submission, engine: str, project: ProjectInfo) -> JobRecord:
        """The job as it will be stored, but for its submission time (the transaction's)."""
        priority, note = s.priority_class, ""
        if project.over_budget and priority is PriorityClass.ENTITLED:
            priority = PriorityClass.PREEMPTIBLE
            note = (
                f"project {s.project} has used its allocation: the job runs opportunistically (preemptible)"
            )
        return JobRecord(
            id=new_id("job"),
            name=s.name or "job",
            project=s.project,
            user=principal.name,
            engine=engine,
            accelerator_type=s.accelerator_type,
            accelerators=s.accelerators,
            estimate_s=s.estimate_s,
            checkpoint_s=s.checkpoint_s,
            priority_class=priority,
            label=s.label,
            status=JobStatus.PENDING,
            submitted_at=self.uow.clock.now(),
            command=tuple(s.command),
            image=s.image,
            member_state=project.member_state,
            allow_cross_site=s.allow_cross_site,
            reason=note,
        )

    def get(self, principal: Principal, job_id: str) -> JobRecord:
        with self.uow.read() as conn:
            job = JobRepository(conn).get(job_id)
        if job is None or not _may_see(principal, job):
            raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
        return job

    def logs(self, principal: Principal, job_id: str, tail_lines: int = 200) -> str:
        """The job's output, for its owner and staff; empty before the engine has it."""
        job = self.get(principal, job_id)
        executor = self.executors.get(job.engine)
        if job.engine_job_id is None or executor is None:
            return ""
        return executor.logs(EngineRef(engine=job.engine, engine_job_id=job.engine_job_id), tail_lines)

    def artifacts(self, principal: Principal, job_id: str) -> list[JobArtifact]:
        self.get(principal, job_id)  # the same visibility as the job
        with self.uow.read() as conn:
            return ArtifactRepository(conn).of_job(job_id)

    def record_artifacts(self, job_id: str, artifacts: Sequence[Artifact]) -> list[JobArtifact]:
        """Record a finished attempt's outputs once, labelled with the job's safety level."""
        with self.uow.write() as tx:
            job = JobRepository(tx.conn).get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
            repo = ArtifactRepository(tx.conn)
            if not artifacts or repo.exists(job.id, job.attempt):  # nothing new to record or log
                return []
            made = [
                JobArtifact(
                    job_id=job.id,
                    attempt=job.attempt,
                    path=a.path,
                    sha256=a.sha256,
                    size=a.size,
                    label=job.label,
                    recorded_at=tx.now,
                )
                for a in artifacts
            ]
            repo.add(made)
            tx.emit(
                OutputsRecorded(
                    job_id=job.id,
                    attempt=job.attempt,
                    files=len(made),
                    bytes=sum(a.size for a in made),
                    manifest_sha256=hashlib.sha256(outputs_manifest(artifacts)).hexdigest(),
                    label=int(job.label),
                )
            )
            return made

    def search(
        self,
        principal: Principal,
        *,
        status: JobStatus | None = None,
        mine: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRecord]:
        require_role(principal, *Role)
        staff = bool(principal.roles & {Role.OPERATOR, Role.AUDITOR})
        user = principal.name if mine or not staff else None
        with self.uow.read() as conn:
            return JobRepository(conn).search(user=user, status=status, limit=limit, offset=offset)

    def cancel(self, principal: Principal, job_id: str) -> JobRecord:
        """Pending jobs end at once; running ones are marked and the dispatcher stops them."""
        with self.uow.write() as tx:
            repo = JobRepository(tx.conn)
            job = repo.get(job_id, for_update=True)
            if job is None or not _may_see(principal, job):
                raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
            if job.user != principal.name and Role.OPERATOR not in principal.roles:
                raise Forbidden("only the job's owner or an operator may cancel it")
            if job.status not in ACTIVE_JOB_STATUSES:
                raise InvalidInput(
                    f"job {job_id} already ended ({job.status})", field="job_id", code="job_ended"
                )
            if job.status is JobStatus.PENDING:
                return self._change(
                    tx, repo, job, JobAction.CANCEL, reason=f"cancelled by {principal.name}", ended_at=tx.now
                )
            updated = dataclasses.replace(job, cancel_requested=True)
            repo.save(updated)
            return updated

    # --- the dispatch loop -----------------------------------------------------------------------

    def active(self) -> list[JobRecord]:
        with self.uow.read() as conn:
            return JobRepository(conn).with_status(ACTIVE_JOB_STATUSES)

    def counts(self) -> dict[JobStatus, int]:
        """How many jobs are in each status: public figures for the dashboard."""
        with self.uow.read() as conn:
            return JobRepository(conn).count_by_status()

    def holding(self) -> list[JobRecord]:
        with self.uow.read() as conn:
            return JobRepository(conn).with_status(HOLDING_STATUSES)

    def dispatch(
        self, job_id: str, *, node_ids: tuple[str, ...], counts: tuple[int, ...], placed_type: str
    ) -> JobRecord:
        return self._act(
            job_id,
            JobAction.DISPATCH,
            node_ids=node_ids,
            counts=counts,
            placed_type=placed_type,
            dispatch=True,
        )

    def confirm(self, job_id: str, engine_job_id: str, started_at: datetime | None = None) -> JobRecord:
        return self._act(job_id, JobAction.CONFIRM, engine_job_id=engine_job_id, started_at=started_at)

    def start(self, job_id: str, started_at: datetime | None) -> JobRecord:
        """The engine runs the job now (QUEUED -> RUNNING); ``started_at`` is the engine's start."""
        return self._act(job_id, JobAction.START, started_at=started_at)

    def finish(
        self,
        job_id: str,
        action: JobAction,
        *,
        exit_code: int | None,
        reason: str,
        started_at: datetime | None,
        ended_at: datetime | None,
    ) -> JobRecord:
        return self._act(
            job_id, action, exit_code=exit_code, reason=reason, started_at=started_at, ended_at=ended_at
        )

    def requeue(self, job_id: str, reason: str) -> JobRecord:
        """Back to the queue (preempted, hardware failed, engine lost it): a new attempt, a new key."""
        return self._act(job_id, JobAction.REQUEUE, reason=reason, requeue=True)

    def reject(self, job_id: str, reason: str) -> JobRecord:
        return self._act(job_id, JobAction.REJECT, reason=reason)

    def completed_without_artifacts(self, *, since: datetime, limit: int) -> list[JobRecord]:
        """Completed jobs (ended since ``since``, newest first) with no outputs recorded for their
        last attempt: the dispatcher's recovery after a crash between closing and recording."""
        with self.uow.read() as conn:
            return completed_without_artifacts(conn, since=since, limit=limit)

    def _act(
        self,
        job_id: str,
        action: JobAction,
        *,
        dispatch: bool = False,
        requeue: bool = False,
        **changes: object,
    ) -> JobRecord:
        with self.uow.write() as tx:
            repo = JobRepository(tx.conn)
            job = repo.get(job_id, for_update=True)
            if job is None:
                raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
            fields = {k: v for k, v in changes.items() if v is not None}
            if dispatch:
                fields["dispatched_at"] = tx.now
            if requeue:
                fields.update(
                    attempt=job.attempt + 1,
                    node_ids=(),
                    counts=(),
                    placed_type=None,
                    engine_job_id=None,
                    started_at=None,
                    dispatched_at=None,
                )
            if action in (JobAction.SUCCEED, JobAction.FAIL, JobAction.CANCEL, JobAction.REJECT):
                fields.setdefault("ended_at", tx.now)
            return self._change(tx, repo, job, action, **fields)

    def _change(
        self, tx: Transaction, repo: JobRepository, job: JobRecord, action: JobAction, **fields: object
    ) -> JobRecord:
        status = transition(job.status, action)
        updated = dataclasses.replace(job, status=status, **fields)  # type: ignore[arg-type]
        repo.save(updated)
        tx.emit(
            JobStateChanged(
                job_id=job.id,
                action=action.value,
                status=status.value,
                attempt=updated.attempt,
                reason=updated.reason,
                node_ids=updated.node_ids,
            )
        )
        return updated


def _texts(s: Submission) -> dict[str, str | None]:
    return {f: getattr(s, f) for f in ("name", "project", "accelerator_type", "image", "engine")}


def _priority_class(principal: Principal, value: str) -> PriorityClass:
    """The submitted class (Python callers may pass its value); urgent work is operators' only."""
    try:
        priority = PriorityClass(value)
    except ValueError:
        known = ", ".join(PriorityClass)
        raise InvalidInput(f"priority class is one of {known}", field="priority_class") from None
    if priority is PriorityClass.URGENT and Role.OPERATOR not in principal.roles:
        raise Forbidden("only operators submit urgent work (the director's reserve)", field="priority_class")
    return priority


def _submitted(job: JobRecord) -> JobSubmitted:
    return JobSubmitted(
        job_id=job.id,
        project=job.project,
        user=job.user,
        accelerators=job.accelerators,
        accelerator_type=job.accelerator_type,
        label=int(job.label),
        priority_class=job.priority_class.value,
        engine=job.engine,
        note=job.reason,
    )


def _may_see(principal: Principal, job: JobRecord) -> bool:
    return job.user == principal.name or bool(principal.roles & {Role.OPERATOR, Role.AUDITOR})
