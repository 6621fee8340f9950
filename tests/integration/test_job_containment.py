"""The jobs side of safety incidents and releases, on both databases: a project's jobs preempted in one
transaction, a frozen project's submissions and frozen outputs refused naming the incident, and
released records read under their lower label (the original keeps its own). Refusals change nothing
and log nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa

from pnyx.core.errors import Conflict, FacilityError, Forbidden, InvalidInput, NotFound
from pnyx.core.ids import UserId
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import ANONYMOUS, Principal, Role
from pnyx.jobs.clearance import ProjectInfo
from pnyx.jobs.model import Artifact, EngineState, Grant, JobAction, JobRecord, JobSpec, JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.topology import fit_check
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel
from pnyx.safety.release_store import ReleasedArtifact
from pnyx.wiring import Platform

ADA = Principal(user_id=UserId("usr_ada"), name="ada", roles=frozenset({Role.RESEARCHER}))
BOB = Principal(user_id=UserId("usr_bob"), name="bob", roles=frozenset({Role.RESEARCHER}))
AUDITOR = Principal(user_id=UserId("usr_aud"), name="aud", roles=frozenset({Role.AUDITOR}))
WEIGHTS = Artifact(path="ckpt/w.safetensors", sha256="a" * 64, size=7)
CARD = Artifact(path="card.md", sha256="c" * 64, size=3)
PUBLIC = Label(level=SafetyLevel.L1)


@dataclass
class Projects:
    """p1 is ada's, at L2 (confirmed); p2 is bob's, at L1."""

    known: dict[str, ProjectInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.known["p1"] = ProjectInfo(
            id="p1",
            member_state="DE",
            members=frozenset({"usr_ada"}),
            over_budget=False,
            label=Label(level=SafetyLevel.L2),
        )
        self.known["p2"] = ProjectInfo(
            id="p2", member_state="DE", members=frozenset({"usr_bob"}), over_budget=False
        )

    def project(self, project_id: str) -> ProjectInfo | None:
        return self.known.get(project_id)


@dataclass
class Freezes:
    projects: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)

    def frozen_project(self, project_id: str) -> str | None:
        return self.projects.get(project_id)

    def frozen_artifact(self, artifact_id: str) -> str | None:
        return self.artifacts.get(artifact_id)


@dataclass
class Releases:
    records: dict[str, list[ReleasedArtifact]] = field(default_factory=dict)

    def released_of(self, artifact: str) -> Sequence[ReleasedArtifact]:
        return self.records.get(artifact, [])

    def release(self, artifact: str, sha256: str, label: Label, when: datetime) -> str:
        release_id = f"rel_{len(self.records) + 1}"
        record = ReleasedArtifact(
            release_id=release_id, artifact=artifact, sha256=sha256, label=label, released_at=when
        )
        self.records.setdefault(artifact, []).append(record)
        return release_id


@dataclass
class Rig:
    platform: Platform
    engine: FakeExecutor
    projects: Projects
    freezes: Freezes
    releases: Releases
    jobs: JobService

    def submit(self, who: Principal = ADA, project: str = "p1") -> JobRecord:
        s = Submission(name="train", project=project, accelerators=8, estimate_s=600, command=("t",))
        return self.jobs.submit(who, s)

    def placed(self, job_id: str) -> str:
        job = self.jobs.dispatch(job_id, node_ids=("n1",), counts=(8,), placed_type="H100-SXM")
        ref = self.engine.submit(spec_of(job), Grant(node_ids=job.node_ids, counts=job.counts))
        self.jobs.confirm(job_id, ref.engine_job_id)
        return ref.engine_job_id

    def finished(self, job_id: str, *outputs: Artifact) -> None:
        key = self.placed(job_id)
        self.engine.finish(key, EngineState.SUCCEEDED, output="loss 0.1\n")
        self.jobs.finish(job_id, JobAction.SUCCEED, exit_code=0, reason="", started_at=None, ended_at=None)
        self.jobs.record_artifacts(job_id, outputs or (WEIGHTS,))


def spec_of(job: JobRecord) -> JobSpec:
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
    engine, projects, freezes, releases = FakeExecutor(platform.clock), Projects(), Freezes(), Releases()
    jobs = JobService(
        platform.uow,
        projects=projects,
        fits=fit_check(platform.topology),
        executors={"fake": engine},
        default_engine="fake",
        policy=DEFAULT_POLICY,
        freezes=freezes,
        releases=releases,
    )
    return Rig(
        platform=platform, engine=engine, projects=projects, freezes=freezes, releases=releases, jobs=jobs
    )


def logged(platform: Platform, prefix: str = "jobs.") -> list[dict[str, Any]]:
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT entry FROM outbox ORDER BY id")).scalars()
        return [e for e in (json.loads(r) for r in rows) if e["type"].startswith(prefix)]


def refused(
    platform: Platform, error: type[FacilityError], field: str | None, call: Callable[[], object]
) -> FacilityError:
    def state() -> tuple[object, ...]:
        with platform.engine.connect() as conn:
            return tuple(
                tuple(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1")))
                for t in ("jobs", "job_artifacts", "outbox")
            )

    before = state()
    with pytest.raises(error) as info:
        call()
    assert info.value.field == field, info.value.message
    assert state() == before
    return info.value


# --- preemption ----------------------------------------------------------------------------------


def test_preempting_a_project_cancels_unplaced_jobs_and_asks_placed_ones_to_stop(rig: Rig) -> None:
    pending, running, done = rig.submit(), rig.submit(), rig.submit()
    key = rig.placed(running.id)
    rig.finished(done.id)
    theirs = rig.submit(BOB, "p2")
    before = len(logged(rig.platform))

    acted = rig.jobs.preempt_project("p1", "safety incident inc_1")

    assert sorted(acted) == sorted([pending.id, running.id])
    cancelled = rig.jobs.get(ADA, pending.id)
    assert (cancelled.status, cancelled.reason) == (JobStatus.CANCELLED, "cancelled: safety incident inc_1")
    assert cancelled.ended_at is not None
    stopping = rig.jobs.get(ADA, running.id)
    assert (stopping.status, stopping.cancel_requested) == (JobStatus.QUEUED, True)  # the engine stops it
    assert stopping.reason == "stopping: safety incident inc_1"
    assert rig.engine.states[key] is EngineState.RUNNING  # untouched until the dispatcher passes it on
    assert rig.jobs.get(ADA, done.id).status is JobStatus.COMPLETED
    assert rig.jobs.get(BOB, theirs.id).status is JobStatus.PENDING
    new = [(e["type"], e["data"]["job_id"], e["data"]["status"]) for e in logged(rig.platform)[before:]]
    assert sorted(new) == sorted(
        [
            ("jobs.job.state_changed", pending.id, "cancelled"),
            ("jobs.job.cancel_requested", running.id, "queued"),
        ]
    )
    assert rig.jobs.preempt_project("p1", "safety incident inc_1") == []  # nothing new to act on
    assert len(logged(rig.platform)) == before + 2
    refused(rig.platform, InvalidInput, "reason", lambda: rig.jobs.preempt_project("p2", " "))


def test_a_held_job_is_cancelled_by_a_preemption(rig: Rig) -> None:
    rig.projects.known["p1"] = ProjectInfo(
        id="p1", member_state="DE", members=frozenset({"usr_ada"}), over_budget=False, holds_jobs=True
    )
    held = rig.submit()
    assert held.status is JobStatus.HELD_FOR_SAFETY
    assert rig.jobs.preempt_project("p1", "safety incident inc_2") == [held.id]
    assert rig.jobs.get(ADA, held.id).status is JobStatus.CANCELLED


# --- frozen subjects -----------------------------------------------------------------------------


def test_a_frozen_project_takes_no_new_job_and_the_refusal_names_the_incident(rig: Rig) -> None:
    rig.freezes.projects["p1"] = "inc_7"
    error = refused(rig.platform, Conflict, "project", rig.submit)
    assert error.code == "project_frozen"
    assert "inc_7" in error.message
    assert rig.submit(BOB, "p2").status is JobStatus.PENDING  # another project is not frozen


def test_frozen_outputs_are_read_by_nobody_and_the_refusal_names_the_incident(rig: Rig) -> None:
    job = rig.submit()
    rig.finished(job.id, WEIGHTS, CARD)
    rig.freezes.projects["p1"] = "inc_8"
    for read in (rig.jobs.artifacts, rig.jobs.logs):
        error = refused(rig.platform, Forbidden, "job_id", partial(read, ADA, job.id))
        assert (error.code, "inc_8" in error.message) == ("artifact_frozen", True)
    del rig.freezes.projects["p1"]
    rig.freezes.artifacts[f"{job.id}/{CARD.path}"] = "inc_9"  # one output frozen by itself
    error = refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.artifacts(ADA, job.id))
    assert "inc_9" in error.message
    assert CARD.path in error.message
    del rig.freezes.artifacts[f"{job.id}/{CARD.path}"]
    assert len(rig.jobs.artifacts(ADA, job.id)) == 2  # thawed


def test_a_reader_not_cleared_is_told_so_before_any_freeze(rig: Rig) -> None:
    job = rig.submit()
    rig.finished(job.id)
    rig.freezes.projects["p1"] = "inc_8"
    error = refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.artifacts(AUDITOR, job.id))
    assert error.code == "clearance_insufficient"


# --- released records ----------------------------------------------------------------------------


def test_a_released_record_is_read_under_its_lower_label_and_the_original_keeps_its_own(rig: Rig) -> None:
    job = rig.submit()
    rig.finished(job.id, WEIGHTS, CARD)
    refused(rig.platform, NotFound, "job_id", lambda: rig.jobs.artifacts(BOB, job.id))  # another project

    now = rig.platform.clock.now()
    release = rig.releases.release(f"{job.id}/{WEIGHTS.path}", WEIGHTS.sha256, PUBLIC, now)
    [record] = rig.jobs.artifacts(BOB, job.id)  # only the released output, under its release's label
    assert (record.path, record.sha256, record.label, record.release) == (
        WEIGHTS.path,
        WEIGHTS.sha256,
        PUBLIC,
        release,
    )
    [auditors] = rig.jobs.artifacts(AUDITOR, job.id)  # staff are not cleared for L2 either
    assert auditors.label == PUBLIC
    originals = rig.jobs.artifacts(ADA, job.id)  # the member reads the originals, labels unchanged
    assert {a.label for a in originals} == {Label(level=SafetyLevel.L2, categories=frozenset({"project:p1"}))}
    assert {a.release for a in originals} == {None}
    refused(rig.platform, NotFound, "job_id", lambda: rig.jobs.logs(BOB, job.id))  # logs are not released
    refused(rig.platform, NotFound, "job_id", lambda: rig.jobs.artifacts(ANONYMOUS, job.id))

    rig.freezes.projects["p1"] = "inc_3"  # a freeze stops released records being read too
    error = refused(rig.platform, Forbidden, "job_id", lambda: rig.jobs.artifacts(BOB, job.id))
    assert "inc_3" in error.message


def test_a_release_of_other_content_or_within_the_project_is_not_read_by_outsiders(rig: Rig) -> None:
    job = rig.submit()
    rig.finished(job.id)
    now = rig.platform.clock.now()
    rig.releases.release(f"{job.id}/{WEIGHTS.path}", "b" * 64, PUBLIC, now)  # not this content
    refused(rig.platform, NotFound, "job_id", lambda: rig.jobs.artifacts(BOB, job.id))
    inside = Label(level=SafetyLevel.L1, categories=frozenset({"project:p1"}))
    rig.releases.release(f"{job.id}/{WEIGHTS.path}", WEIGHTS.sha256, inside, now)
    refused(rig.platform, NotFound, "job_id", lambda: rig.jobs.artifacts(BOB, job.id))  # p1's compartment
    [record] = rig.jobs.artifacts(AUDITOR, job.id)  # staff hold L1 with the project's categories
    assert record.label == inside
