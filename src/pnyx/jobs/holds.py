"""Safety holds, and the floor under every waiting job: its project's current label.

A job's label is fixed at submission from its project's level then. That level may rise while the
job waits (an escalation an officer confirms, a raise, a new category), so before a job is placed
it is raised to the join of its label and its project's current one (``clearance.raised_to_project``),
with a ``jobs.job.relabelled`` event: held and pending jobs alike. A job never runs below its
project's current level, and its outputs carry the raised label. Jobs already placed keep theirs.

Held jobs (``held_for_safety``) join the queue (``release-hold``) once their project's level no
longer awaits an officer, raised first. ``release_cleared`` does both for every project with
waiting jobs: once per dispatch cycle, before the scheduler looks. Each project is settled in one
transaction that only writes when a job is below its project or may leave its hold.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pnyx.core.errors import Conflict, NotFound
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.jobs.changes import change
from pnyx.jobs.clearance import ProjectInfo, Projects, raised_to_project
from pnyx.jobs.model import UNPLACED_STATUSES, JobAction, JobRecord, JobRelabelled, JobStatus
from pnyx.jobs.store import JobRepository
from pnyx.jobs.submission import raised_reason, released_reason
from pnyx.safety.model import Label

HELD = JobStatus.HELD_FOR_SAFETY


@dataclass(slots=True)
class Cleared:
    """A cycle's look at the waiting jobs: those released from their hold, and the projects written
    to (their jobs raised or released): none, and every job is as it was read."""

    released: list[JobRecord] = field(default_factory=list)
    settled: int = 0


class SafetyHolds:
    def __init__(self, uow: UnitOfWork, *, projects: Projects) -> None:
        self.uow = uow
        self.projects = projects

    def held(self) -> list[JobRecord]:
        """Jobs held for safety, oldest first."""
        with self.uow.read() as conn:
            return JobRepository(conn).with_status({HELD})

    def release(self, project_id: str) -> list[JobRecord]:
        """The project's held jobs go to the queue, raised to its current label, each with its
        events, in one transaction (its pending jobs are raised too). Refused while the project
        still holds jobs (its level awaits an officer)."""
        project = self.projects.project(project_id)
        if project is None:
            raise NotFound(f"unknown project {project_id!r}", field="project", code="project_unknown")
        if project.holds_jobs:
            raise Conflict(
                f"project {project_id}'s safety level still awaits an officer: its jobs stay held",
                field="project",
                code="project_holds_jobs",
            )
        return self._settle(project, release=True)

    def release_cleared(self) -> list[JobRecord]:
        """One dispatch cycle's look at every project with waiting jobs: jobs below its current label
        are raised; held jobs of a project that no longer holds go to the queue. Returns the jobs
        released from their hold. An unknown project's jobs are left as they are."""
        return self.settle_cleared().released

    def settle_cleared(self, pending: Iterable[JobRecord] | None = None) -> Cleared:
        """``release_cleared``, and how many projects it wrote to. ``pending``: the jobs as the caller
        has just read them (the dispatcher's cycle: its pending ones count, the others are passed
        over), so that only the held and those awaiting keys are read here; a job submitted since is
        looked at with the next cycle."""
        waiting: dict[str, set[Label]] = defaultdict(set)
        holding: set[str] = set()
        for project_id, status, label in self._unplaced(pending):
            waiting[project_id].add(label)
            if status is HELD:
                holding.add(project_id)
        cleared = Cleared()
        for project_id in sorted(waiting):
            project = self.projects.project(project_id)
            if project is None:
                continue
            release = project_id in holding and not project.holds_jobs
            if release or any(raised_to_project(label, project) != label for label in waiting[project_id]):
                cleared.released += self._settle(project, release=release)
                cleared.settled += 1
        return cleared

    def _unplaced(self, pending: Iterable[JobRecord] | None) -> set[tuple[str, JobStatus, Label]]:
        """Each distinct (project, status, label) among the jobs not yet placed."""
        statuses = UNPLACED_STATUSES if pending is None else UNPLACED_STATUSES - {JobStatus.PENDING}
        with self.uow.read() as conn:
            found = set(JobRepository(conn).unplaced_labels(statuses))
        given, waiting = pending or (), JobStatus.PENDING  # keyed by the label's parts (its hash: 6x)
        labels = {
            (j.project, j.label.level, j.label.categories): j.label for j in given if j.status is waiting
        }
        return found | {(project, waiting, label) for (project, _, _), label in labels.items()}

    def _settle(self, project: ProjectInfo, *, release: bool) -> list[JobRecord]:
        """Raise the project's waiting jobs below its label; release its held ones if ``release``."""
        with self.uow.write() as tx:
            repo = JobRepository(tx.conn)
            released: list[JobRecord] = []
            for waiting in repo.with_status(UNPLACED_STATUSES, project=project.id, for_update=True):
                job = _raised(tx, repo, waiting, project)
                if release and job.status is HELD:
                    reason = released_reason(job)
                    released.append(change(tx, repo, job, JobAction.RELEASE_HOLD, reason=reason))
            return released


def _raised(tx: Transaction, repo: JobRepository, job: JobRecord, project: ProjectInfo) -> JobRecord:
    """The job at the join of its label and its project's, saved and logged when that is higher."""
    label = raised_to_project(job.label, project)
    if label == job.label:
        return job
    raised = dataclasses.replace(job, label=label, reason=raised_reason(job, label))
    repo.save(raised)
    tx.emit(
        JobRelabelled(
            job_id=job.id,
            status=job.status.value,
            attempt=job.attempt,
            from_label=str(job.label),
            label=str(label),
            reason=raised.reason,
        )
    )
    return raised
