"""Job use cases: researchers submit and cancel; the dispatch loop moves jobs through their lifecycle.

Every change goes through ``rules.transition`` and emits a ``JobStateChanged`` event in the same
transaction (``changes.change``), so the public log holds each job's whole history (without its
command line). Safety holds, and raising waiting jobs to their project's current label, are
``JobService.holds`` (``holds.SafetyHolds``): held, release, release_cleared, settle_cleared.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from pnyx.core.errors import Forbidden, InvalidInput, NotFound
from pnyx.core.ids import new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.jobs.changes import Act, act, act_each, change
from pnyx.jobs.clearance import ProjectInfo, Projects, in_team, outputs_label, project_label
from pnyx.jobs.executor import Executor
from pnyx.jobs.holds import SafetyHolds
from pnyx.jobs.inputs import DatasetInputs, ModelInputs, NoDatasets, check_distinct, check_engine
from pnyx.jobs.model import (
    ACTIVE_JOB_STATUSES,
    HOLDING_STATUSES,
    OPEN_JOB_STATUSES,
    UNPLACED_STATUSES,
    WAITING_STATUSES,
    Artifact,
    InputKind,
    JobAction,
    JobArtifact,
    JobCancelRequested,
    JobRecord,
    JobStatus,
)
from pnyx.jobs.reads import JobReads
from pnyx.jobs.resolve import InputResolver
from pnyx.jobs.rules import outputs_recorded, recorded_artifacts, validate_submission
from pnyx.jobs.sealed_store import SealedRepository
from pnyx.jobs.store import (
    ArtifactRepository,
    JobRepository,
    Revised,
    closed_since,
    completed_without_artifacts,
)
from pnyx.jobs.subjects import Freezes, NoFreezes, NoReleases, Releases, check_submittable
from pnyx.jobs.submission import (
    FitCheck,
    NoWorkspaces,
    Submission,
    Workspaces,
    check_held,
    check_member,
    check_sealed,
    draft,
    priority_class,
    submitted,
    texts,
)
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyPolicy

__all__ = ["FitCheck", "JobService", "ProjectInfo", "Projects", "Submission"]

NO_FREEZES, NO_RELEASES, NO_DATASETS, NO_WORKSPACES = NoFreezes(), NoReleases(), NoDatasets(), NoWorkspaces()


class JobService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        projects: Projects,
        fits: FitCheck,
        executors: Mapping[str, Executor],
        default_engine: str,
        policy: SafetyPolicy = DEFAULT_POLICY,
        freezes: Freezes = NO_FREEZES,
        releases: Releases = NO_RELEASES,
        datasets: DatasetInputs = NO_DATASETS,
        models: ModelInputs = NO_DATASETS,
        workspaces: Workspaces = NO_WORKSPACES,
    ) -> None:
        """``policy``: the safety controls in force (who may read outputs at each level);
        ``freezes``: open incidents' freezes (a frozen project takes no jobs, frozen outputs are
        read by nobody); ``releases``: release decisions' lower-labelled records of outputs;
        ``datasets``, ``models``: the registry's dataset and model versions, as jobs' inputs;
        ``workspaces``: SME workspaces (a project's, and the objects it holds). Wiring passes them
        all; a service built without them knows no freeze, no release, no version, no workspace."""
        self.uow = uow
        self.projects = projects
        self.fits = fits
        self.executors = executors
        self.default_engine = default_engine
        self.freezes = freezes
        self.workspaces = workspaces
        self.inputs = InputResolver(datasets, models)
        self.holds = SafetyHolds(uow, projects=projects)  # the safety holds (``jobs.holds``)
        self.arrivals = threading.Event()  # set by each committed submission (``dispatch.wake``)
        self.reads = JobReads(
            uow, projects=projects, executors=executors, policy=policy, freezes=freezes, releases=releases
        )

    # --- researchers -----------------------------------------------------------------------------

    def submit(self, principal: Principal, s: Submission) -> JobRecord:
        """Every check first, each on its own short connection, then one transaction that only writes:
        holding two pooled connections at once, requests under load would starve the pool.

        The job runs at its project's level unless it asks for a higher one (below is refused); while
        the project's level awaits an officer, it waits in ``held_for_safety``."""
        require_role(principal, Role.RESEARCHER, Role.OPERATOR)
        validate_submission(
            accelerators=s.accelerators,
            estimate_s=s.estimate_s,
            checkpoint_s=s.checkpoint_s,
            command=tuple(s.command),
            image=s.image,
            texts=texts(s),
        )
        engine = self._engine(s.engine)
        check_engine(engine, s.datasets)
        check_engine(engine, s.models, InputKind.MODEL)
        check_distinct(s.datasets, s.models)
        s = dataclasses.replace(s, priority_class=priority_class(principal, s.priority_class))
        project = self._project(principal, s.project)
        check_submittable(self.freezes, project.id)  # frozen by an incident: refused, naming it
        workspace = self._workspace(principal, engine, project, s.workspace_objects)
        now = self.uow.clock.now()
        job = draft(
            principal, s, job_id=new_id("job"), engine=engine, project=project, now=now, workspace=workspace
        )
        inputs = self.inputs.of(principal, s.datasets, s.models, job.label)
        job = dataclasses.replace(job, inputs=inputs)
        self.fits(job)  # a job that can never fit is refused now, never left waiting for ever
        with self.uow.write() as tx:
            job = dataclasses.replace(job, submitted_at=tx.now)
            JobRepository(tx.conn).add(job)
            SealedRepository(tx.conn).attach(job.id, s.workspace_objects)
            tx.emit(submitted(job))
        if job.status in WAITING_STATUSES:  # a held job, or one awaiting keys, is no news to the dispatcher
            self.arrivals.set()
        return job

    def _workspace(
        self, principal: Principal, engine: str, project: ProjectInfo, named: Sequence[str]
    ) -> str | None:
        """The project's active SME workspace, its objects checked and the submitter in its team."""
        state = self.workspaces.of_project(project.id)  # shredded with none active: refused
        sealed, workspace = check_sealed(engine, state, named), state.active
        if workspace is not None and not in_team(principal, project):
            raise Forbidden(
                f"only the named team of project {project.id} runs jobs in its SME workspace", field="project"
            )
        if workspace is not None and sealed:
            check_held(project.id, sealed, self.workspaces.held(workspace, sealed))
        return workspace

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
        check_member(principal, project)
        return project

    # --- reads (jobs.reads: records for whoever may see them, outputs by clearance) ------------------

    def get(self, principal: Principal, job_id: str) -> JobRecord:
        return self.reads.get(principal, job_id)

    def logs(self, principal: Principal, job_id: str, tail_lines: int = 200) -> str:
        return self.reads.logs(principal, job_id, tail_lines)

    def artifacts(self, principal: Principal, job_id: str) -> list[JobArtifact]:
        return self.reads.artifacts(principal, job_id)

    def search(
        self,
        principal: Principal,
        *,
        status: JobStatus | None = None,
        mine: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[JobRecord]:
        return self.reads.search(principal, status=status, mine=mine, limit=limit, offset=offset)

    def _project_label(self, job_id: str) -> Label | None:
        with self.uow.read() as conn:
            job = JobRepository(conn).get(job_id)
        project = self.projects.project(job.project) if job is not None else None
        return project_label(project) if project is not None else None

    def record_artifacts(self, job_id: str, artifacts: Sequence[Artifact]) -> list[JobArtifact]:
        """Record a finished attempt's outputs once, labelled ``clearance.outputs_label`` of the job
        and its project's label now (looked up first: that may classify the project, its own write).
        Nothing to record: the job is only looked for (one read)."""
        if not artifacts:
            with self.uow.read() as conn:
                if JobRepository(conn).get(job_id) is None:
                    raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
            return []
        project = self._project_label(job_id)
        with self.uow.write() as tx:
            job = JobRepository(tx.conn).get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
            repo = ArtifactRepository(tx.conn)
            if repo.exists(job.id, job.attempt):  # recorded already: nothing new to record or log
                return []
            label = outputs_label(job, project=project)
            made = recorded_artifacts(job, artifacts, label, tx.now)
            repo.add(made)
            tx.emit(outputs_recorded(job, artifacts, label))  # a workspace job's: no sizes, no digests
            return made

    def cancel(self, principal: Principal, job_id: str) -> JobRecord:
        """Pending and held jobs end at once; running ones are marked and the dispatcher stops them."""
        with self.uow.write() as tx:
            repo = JobRepository(tx.conn)
            job = repo.get(job_id, for_update=True)
            if job is None or not self.reads.visible(principal, job):
                raise NotFound(f"no job {job_id!r}", field="job_id", code="job_not_found")
            if job.user != principal.name and Role.OPERATOR not in principal.roles:
                raise Forbidden("only the job's owner or an operator may cancel it")
            if job.status not in OPEN_JOB_STATUSES:
                raise InvalidInput(
                    f"job {job_id} already ended ({job.status})", field="job_id", code="job_ended"
                )
            if job.status in UNPLACED_STATUSES:
                return change(
                    tx, repo, job, JobAction.CANCEL, reason=f"cancelled by {principal.name}", ended_at=tx.now
                )
            updated = dataclasses.replace(job, cancel_requested=True)
            repo.save(updated)
            return updated

    def preempt_project(self, project_id: str, reason: str) -> list[str]:
        """Stop a project's open jobs (a safety incident), in one transaction; the ids acted on.

        Held and pending jobs are cancelled at once. Placed ones (dispatching, queued, running) are
        marked ``cancel_requested``: the dispatcher's next cycle passes the cancel to their engine
        (``Dispatcher._cancel_at_engine``) and closes them once it has stopped them. "Checkpoint
        first" is the engines' stop: SIGTERM, then SIGKILL only after a grace period (the local
        sandbox's ``grace_s``, Slurm's KillWait, Kubernetes' termination grace period, Ray's stop), so
        a job that traps SIGTERM writes its checkpoint before it ends. The job ends cancelled, not
        requeued; its checkpoint stays in its work directory on the engine's side (only a succeeded
        attempt's outputs are recorded), so nothing of it is read while the project is contained.
        Jobs already marked are not acted on again."""
        why = reason.strip()
        if not why:
            raise InvalidInput("a preemption says why", field="reason")
        with self.uow.write() as tx:
            repo = JobRepository(tx.conn)
            found = repo.with_status(OPEN_JOB_STATUSES, project=project_id, for_update=True)
            return [self._preempt(tx, repo, job, why).id for job in found if not job.cancel_requested]

    def _preempt(self, tx: Transaction, repo: JobRepository, job: JobRecord, reason: str) -> JobRecord:
        if job.status in UNPLACED_STATUSES:
            return change(tx, repo, job, JobAction.CANCEL, reason=f"cancelled: {reason}", ended_at=tx.now)
        stopping = dataclasses.replace(job, cancel_requested=True, reason=f"stopping: {reason}")
        repo.save(stopping)
        tx.emit(
            JobCancelRequested(
                job_id=job.id, status=job.status.value, attempt=job.attempt, reason=stopping.reason
            )
        )
        return stopping

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

    def waiting(self) -> int:
        """How many jobs a cycle could place now (pending: held ones and those awaiting keys wait for
        a person): one count on the status index (``dispatch.wake``)."""
        with self.uow.read() as conn:
            return JobRepository(conn).count(WAITING_STATUSES)

    def waiting_ids(self) -> frozenset[str]:
        """The ids of the jobs a cycle could place now, in no order (``dispatch.wake``)."""
        with self.uow.read() as conn:
            return JobRepository(conn).ids(WAITING_STATUSES)

    def revised(self, statuses: Collection[JobStatus], known: Mapping[str, int]) -> Revised:
        """In one read: each job in ``statuses`` (id, revision; oldest first, as ``active``) and the
        records of those whose revision ``known`` lacks (``dispatch.job_cache``)."""
        with self.uow.read() as conn:
            listed = JobRepository(conn).revisions(statuses)
            return listed, JobRepository(conn).revised([i for i, r in listed if known.get(i) != r])

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

    def closed_since(self, *, since: datetime, limit: int) -> list[JobRecord]:
        """Jobs closed since ``since`` having started (newest first): the dispatcher's usage recovery
        after a crash between closing a job and recording its usage."""
        with self.uow.read() as conn:
            return closed_since(conn, since=since, limit=limit)

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
            return act(tx, JobRepository(tx.conn), Act(job_id, action, changes, dispatch, requeue))

    def act_each(self, acts: Sequence[Act]) -> list[JobRecord | Exception]:
        """The dispatcher's changes of one step, in one transaction; one failing change fails alone
        (``changes.act_each``): its exception stands in its place."""
        if not acts:
            return []
        with self.uow.write() as tx:
            return act_each(tx, acts)
