"""Property: no sequence of service calls lets a principal read an output above its clearance.

A state machine drives the real jobs service over a migrated SQLite database: projects are
(re)classified, raised, lowered, given categories and members' holds; people submit jobs at any
level, jobs finish and record outputs, holds are released, and everyone tries to read everything.
After each read the outputs returned are checked against a model of clearance written out here:
a member of the job's project holds the project's label, staff hold L1 with its categories, nobody
reads at a level whose readers are jobs only, and another project's member reads nothing.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, rule, run_state_machine_as_test

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Forbidden, InvalidInput, NotFound
from pnyx.core.ids import UserId, new_id
from pnyx.db.engine import create_engine
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.clearance import ProjectInfo, project_label
from pnyx.jobs.model import Artifact, JobArtifact, JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, Readers, SafetyLevel
from pnyx.safety.rules import join

STAFF = frozenset({Role.OPERATOR, Role.AUDITOR, Role.SAFETY_OFFICER})
PEOPLE = {
    "ada": Role.RESEARCHER,  # member of p1
    "bob": Role.RESEARCHER,  # member of p2
    "cyd": Role.RESEARCHER,  # member of both
    "eve": Role.RESEARCHER,  # member of neither
    "aud": Role.AUDITOR,
    "olga": Role.OPERATOR,
    "sofia": Role.SAFETY_OFFICER,
}
TEAMS = {"p1": frozenset({"usr_ada", "usr_cyd"}), "p2": frozenset({"usr_bob", "usr_cyd"})}
levels = st.sampled_from(list(SafetyLevel))
categories = st.frozensets(st.sampled_from(["bio", "cyber"]))


def person(name: str) -> Principal:
    return Principal(user_id=UserId(f"usr_{name}"), name=name, roles=frozenset({PEOPLE[name]}))


class Projects:
    def __init__(self, ids: dict[str, str]) -> None:
        self.known = {
            ids[p]: ProjectInfo(id=ids[p], member_state="DE", members=TEAMS[p], over_budget=False)
            for p in TEAMS
        }

    def project(self, project_id: str) -> ProjectInfo | None:
        return self.known.get(project_id)


def dominates(high: Label, low: Label) -> bool:
    return low.level <= high.level and low.categories <= high.categories


def cleared(reader: Principal, project: ProjectInfo) -> Label | None:
    """The model of clearance, independent of ``jobs.clearance``."""
    own = Label(level=project.label.level, categories=project.label.categories | {f"project:{project.id}"})
    if reader.user_id in project.members:
        return own
    if reader.roles & STAFF:
        return Label(level=SafetyLevel.L1, categories=own.categories)
    return None


class Reading(RuleBasedStateMachine):
    uow: UnitOfWork  # set by the test: one migrated database for every run
    successes = 0  # reads that returned outputs, over all runs: the property is not vacuous
    jobs_made = Bundle("jobs")

    def __init__(self) -> None:
        super().__init__()
        run = new_id("run")  # each run its own projects: runs share the database
        self.ids = {p: f"{run}-{p}" for p in TEAMS}
        self.projects = Projects(self.ids)
        self.service = JobService(
            self.uow,
            projects=self.projects,
            fits=lambda _job: None,
            executors={"fake": FakeExecutor()},
            default_engine="fake",
            policy=DEFAULT_POLICY,
        )

    @rule(project=st.sampled_from(sorted(TEAMS)), level=levels, cats=categories, holds=st.booleans())
    def classify(self, project: str, level: SafetyLevel, cats: frozenset[str], holds: bool) -> None:
        """An officer raises or lowers it, a category is added or dropped, an escalation holds it."""
        pid = self.ids[project]
        info = self.projects.known[pid]
        self.projects.known[pid] = replace(info, label=Label(level=level, categories=cats), holds_jobs=holds)

    @rule(
        target=jobs_made,
        who=st.sampled_from(["ada", "bob", "cyd", "eve", "olga"]),
        project=st.sampled_from(sorted(TEAMS)),
        level=st.one_of(st.none(), levels),
        files=st.integers(0, 2),
    )
    def submit(self, who: str, project: str, level: SafetyLevel | None, files: int) -> str:
        """A job, refused where its submitter is no member or its level is below the project's;
        with ``files`` outputs recorded (none: it has not finished)."""
        pid, submitter = self.ids[project], person(who)
        home = self.projects.known[pid].label.level
        s = Submission(name="j", project=pid, accelerators=1, estimate_s=60, command=("t",), label=level)
        if submitter.user_id not in TEAMS[project] and who != "olga":
            with pytest.raises(Forbidden):
                self.service.submit(submitter, s)
            return ""
        if level is not None and level < home:
            with pytest.raises(InvalidInput) as refused:
                self.service.submit(submitter, s)
            assert refused.value.field == "label"
            return ""
        job = self.service.submit(submitter, s)
        assert job.label.level == (home if level is None else level)
        assert f"project:{pid}" in job.label.categories
        self.finish(job.id, files)
        return job.id

    @rule(job_id=jobs_made, files=st.integers(1, 3))
    def finish(self, job_id: str, files: int) -> None:
        if job_id:
            outputs = [Artifact(path=f"out/{i}", sha256=f"{i:064x}", size=i) for i in range(files)]
            job = self.service.reads.get(person("olga"), job_id)
            now = project_label(self.projects.known[job.project])  # it may have been raised since
            for made in self.service.record_artifacts(job_id, outputs):
                assert made.label == join(job.label, now)  # never below the job, nor its project now

    @rule()
    def release(self) -> None:
        for job in self.service.holds.release_cleared():
            info = self.projects.known[job.project]
            assert not info.holds_jobs
            assert job.status is JobStatus.PENDING

    @rule(job_id=jobs_made)
    def everyone_reads(self, job_id: str) -> None:
        """Every person tries the job's outputs and its logs."""
        for who in sorted(PEOPLE) if job_id else ():
            self.read(person(who), job_id)

    def read(self, reader: Principal, job_id: str) -> None:
        try:
            found = self.service.artifacts(reader, job_id)
        except (NotFound, Forbidden):
            found = None
        if found is not None:
            Reading.successes += bool(found)
            self.check(reader, job_id, found)
        try:
            self.service.logs(reader, job_id)
        except (NotFound, Forbidden):
            return
        self.check(reader, job_id, [])

    def check(self, reader: Principal, job_id: str, found: list[JobArtifact]) -> None:
        """What ``reader`` was given from ``job_id`` (outputs, or its logs) is within its clearance."""
        job = self.service.get(person("olga"), job_id)
        project = self.projects.known[job.project]
        held = cleared(reader, project)
        assert held is not None, f"{reader.name} read {job_id} without any clearance"
        assert dominates(held, job.label)  # the job's outputs carry at least its label
        assert DEFAULT_POLICY.of(job.label.level).readers is not Readers.JOBS_ONLY
        other_projects = {p for p in self.projects.known if p != job.project}
        assert not any(f"project:{p}" in held.categories for p in other_projects)
        for a in found:
            assert dominates(held, a.label), f"{reader.name} holding {held} read {a.label}"
            assert DEFAULT_POLICY.of(a.label.level).readers is not Readers.JOBS_ONLY


@pytest.fixture
def uow(sqlite_template: Path, tmp_path: Path) -> UnitOfWork:
    path = tmp_path / "pnyx.db"
    shutil.copy(sqlite_template, path)
    return UnitOfWork(engine=create_engine(f"sqlite:///{path}"), clock=FrozenClock())


def test_no_sequence_of_calls_reads_above_clearance(uow: UnitOfWork) -> None:
    Reading.uow = uow
    run_state_machine_as_test(
        Reading,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    uow.engine.dispose()
    assert Reading.successes > 0
