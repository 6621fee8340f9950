"""Jobs under safety levels on both databases: jobs run at their project's level or above, wait in
``held_for_safety`` while the project's level awaits an officer, carry full labels onto their outputs,
and nobody reads outputs above their clearance. Refusals change nothing and log nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from pnyx.adapters import AllocationProjects
from pnyx.core.errors import Conflict, FacilityError, Forbidden, InvalidInput, NotFound
from pnyx.core.ids import UserId
from pnyx.db.engine import create_engine
from pnyx.db.migrate import MIGRATIONS, downgrade, upgrade
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.clearance import ProjectInfo, clearance
from pnyx.jobs.model import Artifact, EngineState, JobAction, JobSpec, JobStatus
from pnyx.jobs.rules import to_scheduler_job
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.topology import fit_check
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import ClassificationStatus, Label, SafetyLevel
from pnyx.scheduler.cycle import schedule
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.queue import Queue
from pnyx.scheduler.snapshot import build_snapshot
from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import World

ADA = Principal(user_id=UserId("usr_ada"), name="ada", roles=frozenset({Role.RESEARCHER}))
BOB = Principal(user_id=UserId("usr_bob"), name="bob", roles=frozenset({Role.RESEARCHER}))
AUDITOR = Principal(user_id=UserId("usr_aud"), name="aud", roles=frozenset({Role.AUDITOR}))
WEIGHTS = Artifact(path="ckpt/step-100.safetensors", sha256="a" * 64, size=7)


@dataclass
class SafetyProjects:
    """Projects as allocation and safety would answer, changeable by the test: p1 is ada's, p2 bob's."""

    known: dict[str, ProjectInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for pid, member in (("p1", "usr_ada"), ("p2", "usr_bob")):
            self.known[pid] = ProjectInfo(
                id=pid, member_state="DE", members=frozenset({member}), over_budget=False
            )

    def project(self, project_id: str) -> ProjectInfo | None:
        return self.known.get(project_id)

    def classify(
        self, pid: str, level: SafetyLevel, *, holds: bool = False, cats: frozenset[str] = frozenset()
    ) -> None:
        self.known[pid] = replace(
            self.known[pid], label=Label(level=level, categories=cats), holds_jobs=holds
        )


@dataclass
class Rig:
    platform: Platform
    projects: SafetyProjects
    engine: FakeExecutor
    jobs: JobService

    def submit(self, who: Principal = ADA, project: str = "p1", **kw: Any) -> Any:
        s = Submission(name="train", project=project, accelerators=8, estimate_s=600, command=("t",), **kw)
        return self.jobs.submit(who, s)

    def finished_with_outputs(self, job_id: str, *outputs: Artifact) -> None:
        """The job placed, run on the fake engine, and its outputs recorded."""
        job = self.jobs.dispatch(job_id, node_ids=("n1",), counts=(8,), placed_type="H100-SXM")
        ref = self.engine.submit(spec_of(job), grant=None)  # type: ignore[arg-type]
        self.jobs.confirm(job_id, ref.engine_job_id)
        self.engine.finish(ref.engine_job_id, EngineState.SUCCEEDED, output="loss 0.1\n")
        self.jobs.finish(job_id, JobAction.SUCCEED, exit_code=0, reason="", started_at=None, ended_at=None)
        self.jobs.record_artifacts(job_id, outputs or (WEIGHTS,))


def spec_of(job: Any) -> JobSpec:
    return JobSpec(
        job_id=job.id,
        idempotency_key=job.idempotency_key,
        name=job.name,
        project=job.project,
        user=job.user,
        accelerator_type="H100-SXM",
        accelerators=job.accelerators,
        nodes=1,
        accelerators_per_node=job.accelerators,
        safety_level=job.level,
        time_limit_s=job.estimate_s,
        command=job.command,
    )


@pytest.fixture
def rig(platform: Platform) -> Rig:
    platform.inventory.generate(64, seed=1)
    projects, engine = SafetyProjects(), FakeExecutor(platform.clock)
    jobs = JobService(
        platform.uow,
        projects=projects,
        fits=fit_check(platform.topology),
        executors={"fake": engine},
        default_engine="fake",
        policy=DEFAULT_POLICY,
    )
    return Rig(platform=platform, projects=projects, engine=engine, jobs=jobs)


def logged(platform: Platform, prefix: str = "jobs.") -> list[dict[str, Any]]:
    with platform.engine.connect() as conn:
        found = [
            json.loads(r) for r in conn.execute(sa.text("SELECT entry FROM outbox ORDER BY id")).scalars()
        ]
    return [e for e in found if e["type"].startswith(prefix)]


def snapshot(platform: Platform) -> tuple[object, ...]:
    with platform.engine.connect() as conn:
        return tuple(
            tuple(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")))
            for table in ("jobs", "job_artifacts", "outbox")
        )


def refused(
    platform: Platform, error: type[FacilityError], field: str | None, call: Callable[[], object]
) -> FacilityError:
    before = snapshot(platform)
    with pytest.raises(error) as info:
        call()
    assert info.value.field == field, info.value
    assert snapshot(platform) == before
    return info.value


# --- the level a job runs at ---------------------------------------------------------------------


def test_a_job_runs_at_its_projects_level_unless_it_asks_for_more(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L2, cats=frozenset({"bio"}))
    job = rig.submit()
    assert job.label == Label(level=SafetyLevel.L2, categories=frozenset({"bio", "project:p1"}))
    assert rig.jobs.get(ADA, job.id).label == job.label  # stored whole
    higher = rig.submit(label=SafetyLevel.L3)
    assert rig.jobs.get(ADA, higher.id).label.level is SafetyLevel.L3
    [first, _] = logged(rig.platform)
    assert first["type"] == "jobs.job.submitted"
    assert (first["data"]["label"], first["data"]["status"]) == ("L2+bio+project:p1", "pending")


def test_a_job_below_its_projects_level_is_refused_and_nothing_is_stored_or_logged(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L3)
    error = refused(rig.platform, InvalidInput, "label", lambda: rig.submit(label=SafetyLevel.L2))
    assert error.code == "below_project_level"
    assert "L3" in error.message


# --- held for safety -----------------------------------------------------------------------------


def test_a_projects_new_jobs_wait_held_until_an_officer_confirms(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L2, holds=True)
    job = rig.submit()
    assert job.status is JobStatus.HELD_FOR_SAFETY
    assert "awaits an officer" in job.reason
    assert logged(rig.platform, "jobs.job.submitted")[0]["data"]["status"] == "held_for_safety"
    assert rig.jobs.counts() == {JobStatus.HELD_FOR_SAFETY: 1}
    assert [j.id for j in rig.jobs.search(ADA, status=JobStatus.HELD_FOR_SAFETY)] == [job.id]
    assert rig.jobs.active() == []  # the scheduler never sees it
    assert [j.id for j in rig.jobs.holds.held()] == [job.id]
    assert rig.jobs.holds.release_cleared() == []  # the project still holds
    error = refused(rig.platform, Conflict, "project", lambda: rig.jobs.holds.release("p1"))
    assert error.code == "project_holds_jobs"
    refused(rig.platform, NotFound, "project", lambda: rig.jobs.holds.release("nope"))

    rig.projects.classify("p1", SafetyLevel.L2)  # an officer confirmed
    [released] = rig.jobs.holds.release_cleared()
    assert (released.id, released.status) == (job.id, JobStatus.PENDING)
    assert "confirmed: released to the queue" in released.reason
    assert [j.id for j in rig.jobs.active()] == [job.id]
    assert rig.jobs.holds.held() == []
    change = logged(rig.platform, "jobs.job.state_changed")[-1]["data"]
    assert (change["job_id"], change["action"], change["status"]) == (job.id, "release-hold", "pending")
    assert rig.jobs.holds.release("p1") == []  # nothing left to release


def test_only_the_projects_own_held_jobs_are_released(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L2, holds=True)
    rig.projects.classify("p2", SafetyLevel.L2, holds=True)
    mine, theirs = rig.submit(), rig.submit(BOB, "p2")
    rig.projects.classify("p1", SafetyLevel.L2)
    assert [j.id for j in rig.jobs.holds.release_cleared()] == [mine.id]
    assert rig.jobs.get(BOB, theirs.id).status is JobStatus.HELD_FOR_SAFETY


def test_a_held_job_is_cancelled_at_once(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L2, holds=True)
    job = rig.submit()
    assert rig.jobs.cancel(ADA, job.id).status is JobStatus.CANCELLED
    change = logged(rig.platform, "jobs.job.state_changed")[-1]["data"]
    assert (change["action"], change["status"]) == ("cancel", "cancelled")


# --- never below the project's current level (finding F2) ----------------------------------------


def test_held_jobs_are_raised_to_their_projects_current_label_when_released(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L1, holds=True)  # escalated: still L1, pending L2
    job = rig.submit()
    assert str(job.label) == "L1+project:p1"
    rig.projects.classify("p1", SafetyLevel.L2)  # an officer confirmed L2
    [released] = rig.jobs.holds.release_cleared()
    assert (released.id, released.status, str(released.label)) == (job.id, JobStatus.PENDING, "L2+project:p1")
    assert "raised to L2+project:p1" in released.reason
    assert "confirmed: released to the queue" in released.reason
    assert rig.jobs.get(ADA, job.id).label == released.label  # stored
    assert to_scheduler_job(released).label is SafetyLevel.L2  # placed as L2
    relabelled, changed = logged(rig.platform)[-2:]
    assert relabelled["type"] == "jobs.job.relabelled"
    assert relabelled["data"] | {"reason": ""} == {
        "job_id": job.id,
        "status": "held_for_safety",
        "attempt": 0,
        "from_label": "L1+project:p1",
        "label": "L2+project:p1",
        "reason": "",
    }
    assert (changed["type"], changed["data"]["action"]) == ("jobs.job.state_changed", "release-hold")

    rig.finished_with_outputs(job.id)  # its outputs carry the raised label
    assert logged(rig.platform, "jobs.outputs.recorded")[0]["data"]["label"] == "L2+project:p1"
    [weights] = rig.jobs.artifacts(ADA, job.id)
    assert weights.label == released.label


def test_release_holds_raises_the_held_jobs_too(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L1, holds=True)
    job = rig.submit()
    rig.projects.classify("p1", SafetyLevel.L3, cats=frozenset({"bio"}))
    [released] = rig.jobs.holds.release("p1")
    assert (released.id, str(released.label)) == (job.id, "L3+bio+project:p1")


def test_pending_jobs_are_raised_before_they_are_placed_and_placed_ones_are_not(rig: Rig) -> None:
    pending, higher, placed = rig.submit(), rig.submit(label=SafetyLevel.L3), rig.submit()
    rig.jobs.dispatch(placed.id, node_ids=("n1",), counts=(8,), placed_type="H100-SXM")
    rig.projects.classify("p1", SafetyLevel.L2, cats=frozenset({"bio"}))  # escalated, then confirmed
    before = len(logged(rig.platform))
    assert rig.jobs.holds.release_cleared() == []  # nothing was held: nothing released ...
    assert str(rig.jobs.get(ADA, pending.id).label) == "L2+bio+project:p1"  # ... but raised
    assert str(rig.jobs.get(ADA, higher.id).label) == "L3+bio+project:p1"  # joined: the category
    assert str(rig.jobs.get(ADA, placed.id).label) == "L1+project:p1"  # placed: it keeps its label
    assert {j.id: j.level for j in rig.jobs.active()}[pending.id] is SafetyLevel.L2
    made = logged(rig.platform)[before:]
    assert [(e["type"], e["data"]["job_id"], e["data"]["label"]) for e in made] == [
        ("jobs.job.relabelled", pending.id, "L2+bio+project:p1"),
        ("jobs.job.relabelled", higher.id, "L3+bio+project:p1"),
    ]
    assert rig.jobs.holds.release_cleared() == []
    assert len(logged(rig.platform)) == before + 2  # raised once: nothing more to do or log


def test_settling_over_the_cycles_read_raises_and_releases_as_a_read_of_every_row(rig: Rig) -> None:
    """The dispatcher hands over the pending jobs it has just read: the held are read here."""
    rig.projects.classify("p2", SafetyLevel.L1, holds=True)
    pending, held = rig.submit(), rig.submit(BOB, "p2")
    read = rig.jobs.active()
    assert rig.jobs.holds.settle_cleared(read).settled == 0  # nothing below its project, nothing releasable
    rig.projects.classify("p1", SafetyLevel.L2)
    rig.projects.classify("p2", SafetyLevel.L2)  # an officer confirmed
    cleared = rig.jobs.holds.settle_cleared(read)
    assert ([j.id for j in cleared.released], cleared.settled) == ([held.id], 2)
    assert str(rig.jobs.get(ADA, pending.id).label) == "L2+project:p1"  # raised from the given read
    assert rig.jobs.holds.settle_cleared(rig.jobs.active()).settled == 0  # settled: nothing more to write


def test_a_pending_job_missing_from_the_given_read_waits_for_the_next_cycle(rig: Rig) -> None:
    earlier = rig.jobs.active()  # read before the job was submitted
    job = rig.submit()
    rig.projects.classify("p1", SafetyLevel.L2)
    assert rig.jobs.holds.settle_cleared(earlier).settled == 0
    assert rig.jobs.get(ADA, job.id).level is SafetyLevel.L1  # not in that cycle's queue either
    assert rig.jobs.holds.settle_cleared(rig.jobs.active()).settled == 1
    assert rig.jobs.get(ADA, job.id).level is SafetyLevel.L2


def test_a_job_raised_twice_keeps_one_note(rig: Rig) -> None:
    job = rig.submit()
    rig.projects.classify("p1", SafetyLevel.L2)
    rig.jobs.holds.release_cleared()
    rig.projects.classify("p1", SafetyLevel.L3)
    rig.jobs.holds.release_cleared()
    raised = rig.jobs.get(ADA, job.id)
    assert (raised.level, raised.reason.count("raised to")) == (SafetyLevel.L3, 1)


def test_waiting_jobs_of_an_unknown_project_are_left_as_they_are(rig: Rig) -> None:
    job = rig.submit()
    del rig.projects.known["p1"]
    before = snapshot(rig.platform)
    assert rig.jobs.holds.release_cleared() == []
    assert snapshot(rig.platform) == before
    assert job.status is JobStatus.PENDING


# --- outputs and clearance -----------------------------------------------------------------------


def test_outputs_carry_the_jobs_label_and_only_the_cleared_read_them(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L2)
    job = rig.submit()
    rig.finished_with_outputs(job.id)
    [weights] = rig.jobs.artifacts(ADA, job.id)  # a member holds p1's label
    assert weights.label == Label(level=SafetyLevel.L2, categories=frozenset({"project:p1"}))
    assert rig.jobs.logs(ADA, job.id) == "loss 0.1"
    assert logged(rig.platform, "jobs.outputs.recorded")[0]["data"]["label"] == "L2+project:p1"

    assert rig.jobs.get(AUDITOR, job.id).id == job.id  # an auditor sees the record ...
    error = refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.artifacts(AUDITOR, job.id))
    assert error.code == "clearance_insufficient"  # ... not outputs above L1, and is told why
    assert "L2+project:p1" in error.message
    refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.logs(AUDITOR, job.id))
    refused(rig.platform, NotFound, "job_id", lambda: rig.jobs.artifacts(BOB, job.id))  # another project


def test_at_l1_staff_read_outputs_too(rig: Rig) -> None:
    job = rig.submit()
    rig.finished_with_outputs(job.id)
    assert [a.path for a in rig.jobs.artifacts(AUDITOR, job.id)] == [WEIGHTS.path]


def test_where_only_jobs_read_no_person_does(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L3)
    job = rig.submit()
    rig.finished_with_outputs(job.id)
    error = refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.artifacts(ADA, job.id))
    assert "only jobs read" in error.message
    refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.logs(ADA, job.id))


def test_a_job_run_above_its_project_makes_outputs_its_members_cannot_read(rig: Rig) -> None:
    job = rig.submit(label=SafetyLevel.L2)  # p1 is L1
    rig.finished_with_outputs(job.id)
    refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.artifacts(ADA, job.id))
    rig.projects.classify("p1", SafetyLevel.L2)  # raised: its members are cleared for L2 now
    assert len(rig.jobs.artifacts(ADA, job.id)) == 1


def test_a_lowered_project_no_longer_reads_its_higher_outputs(rig: Rig) -> None:
    rig.projects.classify("p1", SafetyLevel.L2, cats=frozenset({"bio"}))
    job = rig.submit()
    rig.finished_with_outputs(job.id)
    rig.projects.classify("p1", SafetyLevel.L2)  # the bio category dropped
    refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.artifacts(ADA, job.id))


def test_a_job_of_an_unknown_project_has_no_cleared_reader(rig: Rig) -> None:
    job = rig.submit()
    rig.finished_with_outputs(job.id)
    del rig.projects.known["p1"]
    error = refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.artifacts(ADA, job.id))
    assert "unknown" in error.message


# --- the migration -------------------------------------------------------------------------------


def test_existing_jobs_and_outputs_get_their_projects_category(database_url: str) -> None:
    engine = create_engine(database_url)
    before = ScriptDirectory(str(MIGRATIONS)).get_revision("0012").down_revision
    assert isinstance(before, str)
    downgrade(engine, before)
    when = datetime(2026, 11, 25, tzinfo=UTC)
    job = {"name": "j", "user": "ada", "engine": "local", "accelerators": 1, "estimate_s": 60}
    job |= {"checkpoint_s": 0, "priority_class": "entitled", "label": 2, "status": "completed"}
    job |= {"submitted_at": when, "command": "[]", "allow_cross_site": False, "attempt": 0}
    job |= {"cancel_requested": False, "node_ids": "[]", "counts": "[]", "reason": ""}
    jobs = sa.table("jobs", *(sa.column(c) for c in ("id", "project", *job)))
    artifacts = sa.table(
        "job_artifacts",
        *(sa.column(c) for c in ("job_id", "attempt", "path", "sha256", "size", "label", "recorded_at")),
    )
    with engine.begin() as conn:
        conn.execute(
            jobs.insert(), [{"id": "j1", "project": 'p"1', **job}, {"id": "j2", "project": "p2", **job}]
        )
        conn.execute(jobs.insert().values(id="j3", project="p2", **{**job, "status": "held_for_safety"}))
        conn.execute(
            artifacts.insert(),
            [
                {
                    "job_id": j,
                    "attempt": 0,
                    "path": "w",
                    "sha256": "a" * 64,
                    "size": 1,
                    "label": 2,
                    "recorded_at": when,
                }
                for j in ("j1", "j2")
            ],
        )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, categories FROM jobs ORDER BY id")).all()
        labelled: dict[str, str] = {r[0]: r[1] for r in rows}
        rows = conn.execute(sa.text("SELECT job_id, categories FROM job_artifacts ORDER BY job_id")).all()
        outputs: dict[str, str] = {r[0]: r[1] for r in rows}
    assert {k: json.loads(v) for k, v in labelled.items()} == {
        "j1": ['project:p"1'],
        "j2": ["project:p2"],
        "j3": ["project:p2"],
    }
    assert {k: json.loads(v) for k, v in outputs.items()} == {"j1": ['project:p"1'], "j2": ["project:p2"]}
    downgrade(engine, before)  # a held job is cancelled, never released without an officer
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM jobs WHERE id = 'j3'")).scalar() == "cancelled"
    upgrade(engine)
    engine.dispose()


# --- end to end, with the safety service ---------------------------------------------------------


class Facility:
    """A platform with two PIs, a safety officer and an open call; awarded projects on demand."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.world = World(platform)
        self.alice = self.world.user("alice", ["researcher"])
        self.bob = self.world.user("bob", ["researcher"])
        self.officer = self.world.user("sofia", ["safety-officer"])
        self.call = self.world.call()
        platform.allocation.open_call(self.call.id)
        platform.inventory.generate(64, seed=1)
        self.engine = FakeExecutor(platform.clock)
        self.jobs = JobService(
            platform.uow,
            projects=AllocationProjects(platform.awards, platform.accounting, platform.safety),
            fits=fit_check(platform.topology),
            executors={"fake": self.engine},
            default_engine="fake",
            policy=DEFAULT_POLICY,
        )

    def project(self, pi: str, hours: int) -> str:
        """An awarded project whose PI self-assessed it narrow and small (L1), asking ``hours``."""
        assessment = {"planned_training_flop": 10**21, "general_purpose": False, "dual_use_data": False}
        proposal = self.world.propose(
            self.call,
            pi,
            requested_hours={"H100": hours},
            safety={**assessment, "open_weights_planned": True},
        )
        return self.world.award(self.call, proposal)


def test_a_self_assessed_l1_project_asking_l2_compute_runs_l2_jobs_exclusively_and_l1_cannot_read(
    platform: Platform,
) -> None:
    facility = Facility(platform)
    big = facility.project("alice", hours=100_000)  # 1.4e23 FLOP at 40% of 989 TFLOPS: above 1e23
    small = facility.project("bob", hours=100)
    jobs = facility.jobs

    # classified L2 (an officer has not looked yet): its jobs wait, at L2, never below
    submission = Submission(name="train", project=big, accelerators=8, estimate_s=600, command=("t",))
    job = jobs.submit(facility.alice, submission)
    assert job.label == Label(level=SafetyLevel.L2, categories=frozenset({f"project:{big}"}))
    assert job.status is JobStatus.HELD_FOR_SAFETY
    c = platform.safety.classification(big)
    assert (c.level, c.status) == (SafetyLevel.L2, ClassificationStatus.PROPOSED)
    refused(
        platform,
        InvalidInput,
        "label",
        lambda: jobs.submit(facility.alice, replace(submission, label=SafetyLevel.L1)),
    )

    # an officer confirms: the dispatcher's look releases it to the queue
    platform.safety.confirm(big, by=facility.officer)
    assert [j.id for j in jobs.holds.release_cleared()] == [job.id]

    # the scheduler places it on L2-certified nodes, exclusively
    topology = platform.topology.topology()
    now = platform.clock.now().timestamp()
    snap = build_snapshot(topology, [], Shares(members={"DE": 1.0}), Usage(at=now))
    [placed] = schedule(
        snap, Queue([to_scheduler_job(jobs.get(facility.alice, job.id))]), now, policy_named("full")
    ).starts
    assert placed.exclusive
    assert topology.pools[placed.pool].level >= SafetyLevel.L2
    running = jobs.dispatch(
        job.id, node_ids=placed.node_ids, counts=placed.counts, placed_type=placed.accelerator_type
    )
    ref = facility.engine.submit(spec_of(running), grant=None)  # type: ignore[arg-type]
    assert facility.engine.submitted[ref.engine_job_id].safety_level is SafetyLevel.L2
    jobs.confirm(job.id, ref.engine_job_id)
    facility.engine.finish(ref.engine_job_id, EngineState.SUCCEEDED)
    jobs.finish(job.id, JobAction.SUCCEED, exit_code=0, reason="", started_at=None, ended_at=None)
    [made] = jobs.record_artifacts(job.id, [WEIGHTS])
    assert made.label == job.label

    # its PI reads its output; the L1 project's PI does not, and no clearance of theirs would do
    assert [a.sha256 for a in jobs.artifacts(facility.alice, job.id)] == [WEIGHTS.sha256]
    refused(platform, NotFound, "job_id", lambda: jobs.artifacts(facility.bob, job.id))
    bobs_project = facility.jobs.projects.project(small)
    assert bobs_project is not None
    assert bobs_project.label.level is SafetyLevel.L1
    bobs = clearance(facility.bob, bobs_project)
    assert bobs is not None
    assert not (made.label.level <= bobs.level and made.label.categories <= bobs.categories)


def test_a_job_held_during_an_escalation_runs_at_the_level_the_officer_confirmed(platform: Platform) -> None:
    """Finding F2 end to end: an L1 project escalated by metering holds its new job at L1; once an
    officer confirms L2, the job joins the queue at L2, and so do jobs that were already pending."""
    facility = Facility(platform)
    project = facility.project("alice", hours=100)
    jobs = facility.jobs
    submission = Submission(name="train", project=project, accelerators=8, estimate_s=600, command=("t",))
    pending = jobs.submit(facility.alice, submission)
    assert (pending.status, pending.level) == (JobStatus.PENDING, SafetyLevel.L1)
    platform.safety.meter(project, Decimal("2e23"))  # escalated: pending L2
    held = jobs.submit(facility.alice, submission)
    assert (held.status, held.level) == (JobStatus.HELD_FOR_SAFETY, SafetyLevel.L1)
    assert jobs.holds.release_cleared() == []  # the escalation awaits an officer

    platform.safety.confirm(project, by=facility.officer)
    [released] = jobs.holds.release_cleared()
    assert (released.id, released.level) == (held.id, SafetyLevel.L2)
    assert jobs.get(facility.alice, pending.id).level is SafetyLevel.L2
    assert {j.id: j.level for j in jobs.active()} == {pending.id: SafetyLevel.L2, held.id: SafetyLevel.L2}


def test_one_officers_proposal_to_lower_an_unconfirmed_level_keeps_the_jobs_held(platform: Platform) -> None:
    """Finding F4: proposed L2, one officer proposes L1: no officer confirmed anything, so the jobs
    stay held and no log entry says "confirmed"; a second officer's agreement releases them."""
    facility = Facility(platform)
    second = facility.world.user("omar", ["safety-officer"])
    project = facility.project("alice", hours=100_000)  # proposed L2
    submission = Submission(name="train", project=project, accelerators=8, estimate_s=600, command=("t",))
    job = facility.jobs.submit(facility.alice, submission)
    assert job.status is JobStatus.HELD_FOR_SAFETY

    lowering = platform.safety.propose_lower(project, "L1", by=facility.officer)
    assert lowering.holds_jobs
    assert facility.jobs.holds.release_cleared() == []
    assert facility.jobs.get(facility.alice, job.id).status is JobStatus.HELD_FOR_SAFETY
    assert logged(platform, "jobs.job.state_changed") == []
    [proposed] = logged(platform, "safety.classification.changed")
    assert proposed["data"] | {"metered_flop": ""} == {
        "project": project,
        "action": "propose-lower",
        "level": "L2",
        "status": "lowering",
        "pending_level": "L1",
        "by": "sofia",
        "metered_flop": "",
    }

    agreed = platform.safety.agree_lower(project, by=second)
    assert (agreed.level, agreed.decided_by, agreed.holds_jobs) == (SafetyLevel.L1, ("sofia", "omar"), False)
    [released] = facility.jobs.holds.release_cleared()
    assert (released.id, released.level) == (job.id, SafetyLevel.L2)  # never lowered in place
    assert "confirmed: released to the queue" in released.reason
