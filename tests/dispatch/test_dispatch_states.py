"""Faithful job states and the hand-over (issue 10), over an in-memory engine that queues what it is
given: queued until the engine runs a job, the engine's start time, batched lookups of jobs left
dispatching, at most ``max_starts`` starts a cycle, the loop's pace. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict
from pnyx.db.outbox import outbox
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.plan import QueueAhead
from pnyx.dispatch.records import grant_of, spec_of
from pnyx.dispatch.report import BUSY_INTERVAL_S, BUSY_SHARE, BUSY_WINDOW_S, CycleReport, pause_after
from pnyx.executors.fake import FakeExecutor
from pnyx.inventory.model import Facility, Island, Node, Rack, Site
from pnyx.inventory.rules import accelerator_type
from pnyx.jobs.changes import Act
from pnyx.jobs.model import Artifact, EngineRef, EngineState, Grant, JobAction, JobRecord, JobSpec, JobStatus
from pnyx.jobs.rules import engine_action, to_scheduler_job
from pnyx.jobs.service import JobService, Submission
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology, build_topology
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects


class QueueingEngine(FakeExecutor):
    """An engine that queues what it is given until told to run it (``run``), counting its lookups;
    with ``begin_cycle``, ``find_many`` and ``submit_new`` it is a ``CycleListing`` and a
    ``NewSubmission``, as the Slurm executor is."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.finds: list[str] = []
        self.batches: list[list[str]] = []
        self.cycles = 0

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        key, fresh = spec.idempotency_key, spec.idempotency_key not in self.submitted
        ref = super().submit(spec, grant)
        if fresh:  # queued, not running
            self.states[key] = EngineState.QUEUED
            del self.started_at[key]
        return ref

    def run(self, key: str, at: datetime) -> None:
        self.states[key], self.started_at[key] = EngineState.RUNNING, at

    def find(self, idempotency_key: str) -> EngineRef | None:
        self.finds.append(idempotency_key)
        return super().find(idempotency_key)

    def begin_cycle(self) -> None:
        self.cycles += 1

    def find_many(self, keys: Sequence[str]) -> dict[str, EngineRef]:
        self.batches.append(list(keys))
        return {k: ref for k in keys if (ref := FakeExecutor.find(self, k)) is not None}

    def submit_new(self, spec: JobSpec, grant: Grant) -> EngineRef:
        return self.submit(spec, grant)


@dataclass
class QueueRig:
    jobs: JobService
    engine: QueueingEngine
    dispatcher: Dispatcher
    clock: FrozenClock

    def submit(self, accelerators: int = 8) -> str:
        submission = Submission(
            name="q", project="open-llm", accelerators=accelerators, estimate_s=600, command=("t",)
        )
        return self.jobs.submit(ADA, submission).id

    def get(self, job_id: str) -> JobRecord:
        return self.jobs.get(ADA, job_id)


def two_nodes() -> Topology:
    """Two nodes of eight H100s, L1."""
    site = Site(id="s1", name="S", member_state="DE", city="-")
    island = Island(id="i1", site_id="s1", accelerator_type="H100-SXM", safety_level=SafetyLevel.L1)
    nodes = tuple(
        Node(
            id=f"n{i}",
            rack_id="r1",
            island_id="i1",
            site_id="s1",
            nvlink_domain=f"n{i}",
            accelerator_type="H100-SXM",
            accelerators=8,
            safety_level=SafetyLevel.L1,
        )
        for i in (1, 2)
    )
    racks = (Rack(id="r1", island_id="i1"),)
    types = (accelerator_type("H100-SXM"),)
    return build_topology(Facility(types=types, sites=(site,), islands=(island,), racks=racks, nodes=nodes))


@pytest.fixture
def queue_rig(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Iterator[QueueRig]:
    rig = make_queue_rig(platform, clock, tmp_path, max_starts=2)
    yield rig
    rig.dispatcher.close()


def make_queue_rig(
    platform: Platform,
    clock: FrozenClock,
    tmp_path: Path,
    *,
    max_starts: int,
    queue_ahead: QueueAhead | None = None,
) -> QueueRig:
    """Two nodes, the queueing engine, a job service and a dispatcher over them."""
    topology = two_nodes()
    engine = QueueingEngine(clock)
    jobs = JobService(
        platform.uow,
        projects=FakeProjects(),
        fits=lambda record: check_fits(to_scheduler_job(record), topology),
        executors={"fake": engine},
        default_engine="fake",
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=lambda: topology,
        executors={"fake": engine},
        shares=lambda _at: {"DE": Decimal(1)},
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "lock"),
        max_starts=max_starts,
        queue_ahead=queue_ahead,
    )
    return QueueRig(jobs=jobs, engine=engine, dispatcher=dispatcher, clock=clock)


def test_a_job_is_queued_while_its_engine_queues_it_and_runs_when_the_engine_runs_it(
    queue_rig: QueueRig, platform: Platform
) -> None:
    job_id = queue_rig.submit()
    report = queue_rig.dispatcher.cycle()
    queued = queue_rig.get(job_id)
    assert (report.started, report.submitted, report.queued) == (1, 1, 1)
    assert queued.status is JobStatus.QUEUED
    assert queued.started_at is None
    assert queue_rig.engine.finds == []  # decided this cycle: no lookup before the submission

    queue_rig.clock.advance(timedelta(seconds=30))
    started = queue_rig.clock.now() - timedelta(seconds=5)
    queue_rig.engine.run(queued.idempotency_key, started)
    assert queue_rig.dispatcher.cycle().running == 1
    running = queue_rig.get(job_id)
    assert (running.status, running.started_at) == (JobStatus.RUNNING, started)  # the engine's start

    queue_rig.engine.finish(queued.idempotency_key)
    queue_rig.dispatcher.cycle()
    assert queue_rig.get(job_id).status is JobStatus.COMPLETED
    platform.log.drain()
    changes = [
        (e["data"]["action"], e["data"]["status"])
        for e in (json.loads(x.data) for x in platform.log.entries(0, platform.log.size()))
        if e["type"] == "jobs.job.state_changed"
    ]
    assert changes == [
        ("dispatch", "dispatching"),
        ("confirm", "queued"),
        ("start", "running"),
        ("succeed", "completed"),
    ]


def test_a_queued_job_holds_its_accelerators_and_may_end_before_it_is_seen_running(
    queue_rig: QueueRig,
) -> None:
    ids = [queue_rig.submit(accelerators=8) for _ in range(3)]  # a node each: one too many
    queue_rig.dispatcher.cycle()
    queued = [queue_rig.get(j) for j in ids if queue_rig.get(j).status is JobStatus.QUEUED]
    (waiting,) = [j for j in ids if queue_rig.get(j).status is JobStatus.PENDING]
    assert len(queued) == 2  # queued at the engine, they hold their nodes

    queue_rig.engine.run(queued[0].idempotency_key, queue_rig.clock.now())
    queue_rig.engine.finish(queued[0].idempotency_key)  # ran and ended between two looks
    queue_rig.clock.advance(timedelta(seconds=1))
    queue_rig.dispatcher.cycle()
    done = queue_rig.get(queued[0].id)
    assert done.status is JobStatus.COMPLETED
    assert done.started_at is not None
    assert queue_rig.get(waiting).status is JobStatus.QUEUED  # its room came free


def test_a_cycle_starts_at_most_max_starts_and_the_rest_wait_for_the_next(queue_rig: QueueRig) -> None:
    ids = [queue_rig.submit(accelerators=1) for _ in range(5)]
    report = queue_rig.dispatcher.cycle()
    assert (report.started, report.waiting) == (2, 3)
    assert queue_rig.dispatcher.cycle().started == 2
    assert queue_rig.dispatcher.cycle().started == 1
    assert {queue_rig.get(j).status for j in ids} == {JobStatus.QUEUED}
    assert queue_rig.engine.cycles == 3  # the executor was told of each cycle


def test_jobs_left_dispatching_are_looked_up_in_one_batch_and_never_submitted_twice(
    queue_rig: QueueRig,
) -> None:
    ids = [queue_rig.submit(accelerators=1) for _ in range(3)]
    node = queue_rig.dispatcher.topology().node_ids[0]
    placed = [queue_rig.jobs.dispatch(j, node_ids=(node,), counts=(1,), placed_type="H100-SXM") for j in ids]
    # a dispatcher died after submitting the first two: the engine has them, the database does not know
    for job in placed[:2]:
        queue_rig.engine.submit(spec_of(job), grant_of(job))
    before = queue_rig.engine.submissions

    queue_rig.dispatcher.cycle()

    assert queue_rig.engine.batches == [[j.idempotency_key for j in placed]]
    assert queue_rig.engine.finds == []
    assert queue_rig.engine.submissions == before + 1  # only the one never submitted
    assert {queue_rig.get(j).engine_job_id for j in ids} == {j.idempotency_key for j in placed}


def test_the_loop_waits_briefly_while_jobs_move_and_the_full_interval_otherwise() -> None:
    quiet, moving = CycleReport(leader=True), CycleReport(leader=True, finished=3)
    assert moving.moved
    assert not quiet.moved
    assert pause_after(moving, 2.0, quiet_s=0.0) == BUSY_INTERVAL_S
    assert pause_after(quiet, 2.0, quiet_s=BUSY_WINDOW_S / 2) == BUSY_INTERVAL_S  # jobs moved lately
    assert pause_after(quiet, 2.0, quiet_s=BUSY_WINDOW_S) == 2.0  # long jobs, however many wait
    slow = CycleReport(leader=True, started=1, seconds=0.9)
    assert pause_after(slow, 2.0, quiet_s=0.0) == BUSY_INTERVAL_S  # a long cycle: the pace holds
    slower = CycleReport(leader=True, started=1, seconds=4.0)
    assert pause_after(slower, 2.0, quiet_s=0.0) == pytest.approx(4.0 * (1 - BUSY_SHARE) / BUSY_SHARE)
    slowest = CycleReport(leader=True, started=1, seconds=40.0)
    assert pause_after(slowest, 2.0, quiet_s=0.0) == 2.0  # never longer than the interval
    failing = CycleReport(leader=True, started=1, errors=["x"])
    assert pause_after(failing, 2.0, quiet_s=0.0) == 2.0  # transient failures counted at the usual pace


def test_what_an_engine_report_does_to_a_job() -> None:
    assert engine_action(JobStatus.QUEUED, EngineState.RUNNING) is JobAction.START
    assert engine_action(JobStatus.RUNNING, EngineState.RUNNING) is None
    assert engine_action(JobStatus.QUEUED, EngineState.QUEUED) is None
    assert engine_action(JobStatus.QUEUED, EngineState.SUCCEEDED) is JobAction.SUCCEED
    assert engine_action(JobStatus.RUNNING, EngineState.CANCELLED) is JobAction.CANCEL
    assert engine_action(JobStatus.RUNNING, EngineState.UNKNOWN) is None


def test_jobs_held_for_safety_join_the_queue_in_the_cycle_after_their_project_is_confirmed(
    queue_rig: QueueRig,
) -> None:
    projects = queue_rig.jobs.projects
    assert isinstance(projects, FakeProjects)
    confirmed = projects.known["open-llm"]
    projects.known["open-llm"] = replace(confirmed, holds_jobs=True)  # escalated: an officer must look
    job_id = queue_rig.submit()
    assert queue_rig.get(job_id).status is JobStatus.HELD_FOR_SAFETY
    assert queue_rig.dispatcher.cycle().released == 0
    assert queue_rig.get(job_id).status is JobStatus.HELD_FOR_SAFETY

    projects.known["open-llm"] = confirmed
    report = queue_rig.dispatcher.cycle()
    assert (report.released, report.started) == (1, 1)
    assert queue_rig.get(job_id).status is JobStatus.QUEUED


def test_one_steps_changes_share_a_transaction_and_a_failing_one_fails_alone(
    queue_rig: QueueRig, platform: Platform
) -> None:
    first, second = queue_rig.submit(), queue_rig.submit()
    queue_rig.jobs.cancel(ADA, second)  # cancelled meanwhile: it cannot be dispatched any more
    with platform.engine.connect() as conn:
        logged = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
    placed = {"node_ids": ("n1",), "counts": (8,), "placed_type": "H100-SXM"}
    done = queue_rig.jobs.act_each(
        [
            Act(first, JobAction.DISPATCH, placed, dispatch=True),
            Act(second, JobAction.DISPATCH, placed, dispatch=True),
        ]
    )
    assert isinstance(done[0], JobRecord)
    assert done[0].status is JobStatus.DISPATCHING
    assert isinstance(done[1], Conflict)
    assert (queue_rig.get(first).status, queue_rig.get(second).status) == (
        JobStatus.DISPATCHING,
        JobStatus.CANCELLED,
    )
    with platform.engine.connect() as conn:  # the one change that held, and its one event
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one() == logged + 1


def test_outputs_of_a_job_whose_project_was_raised_while_it_ran_carry_the_new_level(
    queue_rig: QueueRig,
) -> None:
    projects = queue_rig.jobs.projects
    assert isinstance(projects, FakeProjects)
    job_id = queue_rig.submit()
    queue_rig.dispatcher.cycle()
    assert queue_rig.get(job_id).level is SafetyLevel.L1  # placed and handed over at L1
    before = projects.known["open-llm"]
    projects.known["open-llm"] = replace(before, label=Label(level=SafetyLevel.L2))  # raised meanwhile
    [recorded] = queue_rig.jobs.record_artifacts(job_id, [Artifact(path="w.bin", sha256="a" * 64, size=1)])
    assert recorded.label == Label(level=SafetyLevel.L2, categories=frozenset({"project:open-llm"}))
