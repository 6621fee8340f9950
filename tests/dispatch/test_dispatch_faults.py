"""One job's fault is that job's alone: a misbehaving engine call fails (or retries) that job only.

Every test runs on SQLite and PostgreSQL, with a fake engine that misbehaves for chosen jobs.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.accounting.model import JobUsage
from pnyx.core.clock import FrozenClock
from pnyx.core.ids import UserId
from pnyx.db.outbox import outbox
from pnyx.dispatch.faults import TRANSIENT_LIMIT
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.report import CycleReport
from pnyx.dispatch.usage import UsageRecorder
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import (
    Artifact,
    EngineRef,
    EngineState,
    EngineStatus,
    EngineUnavailable,
    Grant,
    JobAction,
    JobRecord,
    JobSpec,
    JobStatus,
)
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects

BOB = Principal(user_id=UserId("usr_bob"), name="bob", roles=frozenset({Role.RESEARCHER}))
STAFF = Principal(user_id=UserId("usr_op"), name="op", roles=frozenset({Role.OPERATOR}))


def _job_of(ref: EngineRef) -> str:
    return ref.engine_job_id.rsplit("-a", 1)[0]


class MisbehavingEngine(FakeExecutor):
    """The in-memory engine, told to raise (or to wait, or to report odd times) for chosen job ids."""

    def __init__(self) -> None:
        super().__init__()
        self.on_submit: dict[str, Exception] = {}
        self.on_status: dict[str, Exception] = {}
        self.on_cancel: dict[str, Exception] = {}
        self.on_artifacts: dict[str, Exception] = {}
        self.hold_artifacts: dict[str, threading.Event] = {}  # artifacts() waits until it is set
        self.times: dict[str, tuple[datetime | None, datetime | None]] = {}
        self.artifact_calls: list[str] = []
        self.break_batches = False  # status() of more than one job raises
        self.forget_on_cancel = False  # like Kubernetes, which deletes a cancelled job's object
        self.before_status: list[Callable[[], None]] = []  # run at each status() call, first

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        if spec.job_id in self.on_submit:
            raise self.on_submit[spec.job_id]
        return super().submit(spec, grant)

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        for call in self.before_status:
            call()
        if self.break_batches and len(refs) > 1:
            raise KeyError("a batch answer the executor could not parse")
        for ref in refs:
            if _job_of(ref) in self.on_status:
                raise self.on_status[_job_of(ref)]
        return [self._timed(s) for s in super().status(refs)]

    def _timed(self, status: EngineStatus) -> EngineStatus:
        started, ended = self.times.get(_job_of(status.ref), (None, None))
        return replace(status, started_at=started, ended_at=ended)

    def cancel(self, ref: EngineRef) -> None:
        if _job_of(ref) in self.on_cancel:
            raise self.on_cancel[_job_of(ref)]
        super().cancel(ref)
        if self.forget_on_cancel:
            self.states.pop(ref.engine_job_id, None)

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        job_id = _job_of(ref)
        self.artifact_calls.append(job_id)
        if job_id in self.hold_artifacts:
            assert self.hold_artifacts[job_id].wait(timeout=30)
        if job_id in self.on_artifacts:
            raise self.on_artifacts[job_id]
        return [Artifact(path="out.bin", sha256=hashlib.sha256(job_id.encode()).hexdigest(), size=1)]


class FlakyUsage:
    """Accounting that refuses a chosen job's usage the first time it is offered."""

    def __init__(self) -> None:
        self.refuse_once: set[str] = set()
        self.recorded: list[str] = []

    def record_usage(self, *, job_id: str, **_: object) -> object:
        if job_id in self.refuse_once:
            self.refuse_once.discard(job_id)
            raise RuntimeError("accounting is busy")
        self.recorded.append(job_id)
        return None


@dataclass(frozen=True, slots=True)
class Rig:
    jobs: JobService
    engine: MisbehavingEngine
    usage: FlakyUsage
    dispatcher: Dispatcher
    clock: FrozenClock

    def submit(self, who: Principal, name: str) -> str:
        submission = Submission(
            name=name, project="open-llm", accelerators=1, estimate_s=600, command=("train",), engine="fake"
        )
        return self.jobs.submit(who, submission).id

    def get(self, job_id: str) -> JobRecord:
        return self.jobs.get(STAFF, job_id)

    def finish(self, job_id: str, state: EngineState = EngineState.SUCCEEDED) -> None:
        self.engine.finish(self.get(job_id).idempotency_key, state)

    def cycle(self) -> CycleReport:
        report = self.dispatcher.cycle()
        assert report.leader
        return report


def _rig(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Rig:
    platform.inventory.generate(64, seed=1)
    engine, usage = MisbehavingEngine(), FlakyUsage()
    jobs = JobService(
        platform.uow,
        projects=FakeProjects(),
        fits=fit_check(platform.topology),
        executors={"fake": engine},
        default_engine="fake",
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=platform.topology.topology,
        executors={"fake": engine},
        shares=lambda _at: {"DE": Decimal(1)},
        clock=clock,
        policy=policy_named("full"),
        leadership=FileLeadership(tmp_path / "dispatch.lock"),
        usage=usage,
    )
    return Rig(jobs=jobs, engine=engine, usage=usage, dispatcher=dispatcher, clock=clock)


@pytest.fixture
def rig(platform: Platform, clock: FrozenClock, tmp_path: Path) -> Iterator[Rig]:
    built = _rig(platform, clock, tmp_path)
    yield built
    for event in built.engine.hold_artifacts.values():
        event.set()
    built.dispatcher.close()


def _mentions(report: CycleReport, job_id: str, text: str) -> bool:
    return any(job_id in e and text in e for e in report.errors)


def test_a_job_the_engine_cannot_start_fails_alone(rig: Rig) -> None:
    bad, good = rig.submit(ADA, "too-long"), rig.submit(BOB, "fine")
    rig.engine.on_submit[bad] = OSError(7, "Argument list too long")
    report = rig.cycle()
    assert rig.get(good).status is JobStatus.RUNNING
    failed = rig.get(bad)
    assert failed.status is JobStatus.FAILED
    assert (
        failed.reason == "the fake engine could not start the job: OSError: [Errno 7] Argument list too long"
    )
    assert _mentions(report, bad, "Argument list too long")
    rig.finish(good)
    rig.cycle()
    assert rig.get(good).status is JobStatus.COMPLETED
    later = rig.cycle()  # the bad job is behind us: later cycles do not trip over it
    assert later.errors == []


def test_a_job_whose_state_does_not_parse_fails_alone_and_is_stopped(rig: Rig) -> None:
    bad, good = rig.submit(ADA, "garbage-state"), rig.submit(BOB, "fine")
    rig.cycle()
    rig.engine.on_status[bad] = ValueError("invalid literal for int() with base 10: 'garbage'")
    rig.finish(good)
    report = rig.cycle()
    assert rig.get(good).status is JobStatus.COMPLETED
    failed = rig.get(bad)
    assert failed.status is JobStatus.FAILED
    assert failed.reason.startswith("the fake engine could not read the state of the job: ValueError:")
    assert rig.engine.states[failed.idempotency_key] is EngineState.CANCELLED  # asked to stop it
    assert _mentions(report, bad, "ValueError")
    assert rig.cycle().errors == []


def test_a_broken_batch_status_is_asked_job_by_job(rig: Rig) -> None:
    ids = [rig.submit(ADA, f"j{i}") for i in range(3)]
    rig.cycle()
    rig.engine.break_batches = True
    for job_id in ids:
        rig.finish(job_id)
    report = rig.cycle()
    assert all(rig.get(i).status is JobStatus.COMPLETED for i in ids)
    assert any("job by job" in e for e in report.errors)


def test_a_job_whose_cancel_breaks_fails_alone(rig: Rig) -> None:
    bad, good = rig.submit(ADA, "uncancellable"), rig.submit(BOB, "fine")
    rig.cycle()
    rig.jobs.cancel(ADA, bad)
    rig.engine.on_cancel[bad] = RuntimeError("the supervisor state is unreadable")
    rig.finish(good)
    report = rig.cycle()
    assert rig.get(good).status is JobStatus.COMPLETED
    failed = rig.get(bad)
    assert failed.status is JobStatus.FAILED
    assert failed.reason == (
        "the fake engine could not cancel the job: RuntimeError: the supervisor state is unreadable"
    )
    assert _mentions(report, bad, "could not cancel")


def test_transient_errors_retry_then_give_up_while_the_engine_serves_others(rig: Rig) -> None:
    flaky, good = rig.submit(ADA, "flaky"), rig.submit(BOB, "fine")
    rig.cycle()
    rig.engine.on_status[flaky] = EngineUnavailable("timed out asking about this one job")
    for _ in range(TRANSIENT_LIMIT - 1):
        rig.cycle()
        assert rig.get(flaky).status is JobStatus.RUNNING  # retried
        assert rig.get(good).status is JobStatus.RUNNING
    report = rig.cycle()
    given_up = rig.get(flaky)
    assert given_up.status is JobStatus.FAILED
    assert f"{TRANSIENT_LIMIT} cycles in a row" in given_up.reason
    assert "timed out asking about this one job" in given_up.reason
    assert _mentions(report, flaky, "given up")
    assert rig.get(good).status is JobStatus.RUNNING


def test_an_engine_that_is_down_fails_nobody(rig: Rig) -> None:
    ids = [rig.submit(ADA, f"j{i}") for i in range(5)]
    rig.cycle()
    for job_id in ids:
        rig.engine.on_status[job_id] = EngineUnavailable("the engine is down")
    for _ in range(TRANSIENT_LIMIT + 3):
        report = rig.cycle()
        assert all(rig.get(i).status is JobStatus.RUNNING for i in ids)
    assert any("not answering" in e for e in report.errors)
    rig.engine.on_status.clear()
    for job_id in ids:
        rig.finish(job_id)
    rig.cycle()
    assert all(rig.get(i).status is JobStatus.COMPLETED for i in ids)


def test_outputs_are_recorded_off_the_dispatch_thread(rig: Rig) -> None:
    slow, good = rig.submit(ADA, "many-outputs"), rig.submit(BOB, "fine")
    rig.cycle()
    rig.engine.hold_artifacts[slow] = threading.Event()
    rig.finish(slow)
    rig.finish(good)
    rig.cycle()  # returns while the slow job's outputs are still being hashed
    assert rig.get(slow).status is JobStatus.COMPLETED
    assert rig.get(good).status is JobStatus.COMPLETED
    other = rig.submit(BOB, "next")
    rig.cycle()
    assert rig.get(other).status is JobStatus.RUNNING  # dispatch goes on meanwhile
    assert not rig.dispatcher.outputs.wait(timeout=0.2)
    rig.engine.hold_artifacts[slow].set()
    assert rig.dispatcher.outputs.wait(timeout=20)
    assert [a.path for a in rig.jobs.artifacts(STAFF, slow)] == ["out.bin"]
    assert [a.path for a in rig.jobs.artifacts(STAFF, good)] == ["out.bin"]
    assert rig.engine.artifact_calls.count(slow) == 1


def test_outputs_that_fail_are_reported_retried_and_given_up(rig: Rig) -> None:
    bad, good = rig.submit(ADA, "unreadable-outputs"), rig.submit(BOB, "fine")
    rig.cycle()
    rig.engine.on_artifacts[bad] = PermissionError(13, "Permission denied")
    rig.finish(bad)
    rig.finish(good)
    reports = [rig.cycle()]
    for _ in range(4):
        assert rig.dispatcher.outputs.wait(timeout=20)
        reports.append(rig.cycle())
    assert rig.get(bad).status is JobStatus.COMPLETED  # its outputs' fault does not undo the job
    assert any(_mentions(r, bad, "outputs not recorded (try 1 of 3") for r in reports)
    assert any(_mentions(r, bad, "given up") for r in reports)
    assert rig.engine.artifact_calls.count(bad) == 3
    assert rig.jobs.artifacts(STAFF, bad) == []
    assert [a.path for a in rig.jobs.artifacts(STAFF, good)] == ["out.bin"]


def test_a_new_leader_records_outputs_a_crashed_one_left(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    first = _rig(platform, clock, tmp_path)
    job_id = first.submit(ADA, "done")
    first.cycle()
    first.finish(job_id)
    first.dispatcher.outputs.close()  # as if it died between closing the job and recording
    first.cycle()
    first.dispatcher.close()
    assert first.get(job_id).status is JobStatus.COMPLETED
    assert first.jobs.artifacts(STAFF, job_id) == []
    for _ in range(2):  # twice: recovery records once
        after = Dispatcher(
            jobs=first.jobs,
            topology=platform.topology.topology,
            executors={"fake": first.engine},
            shares=lambda _at: {"DE": Decimal(1)},
            clock=clock,
            policy=policy_named("full"),
            leadership=FileLeadership(tmp_path / "dispatch.lock"),
        )
        after.cycle()
        assert after.outputs.wait(timeout=20)
        after.close()
        assert [a.path for a in first.jobs.artifacts(STAFF, job_id)] == ["out.bin"]
    platform.log.drain()
    recorded = [
        e for e in platform.log.entries(0, platform.log.size()) if e.event_type == "jobs.outputs.recorded"
    ]
    assert len(recorded) == 1


def test_usage_that_fails_is_retried(rig: Rig) -> None:
    job_id = rig.submit(ADA, "counted")
    rig.cycle()
    key = rig.get(job_id).idempotency_key
    rig.usage.refuse_once.add(key)
    rig.finish(job_id)
    report = rig.cycle()
    assert rig.get(job_id).status is JobStatus.COMPLETED
    assert _mentions(report, job_id, "usage not recorded (try 1 of 3")
    assert rig.usage.recorded == []
    rig.cycle()
    assert rig.usage.recorded == [key]


def test_engine_times_are_clamped_before_they_are_stored(rig: Rig) -> None:
    job_id = rig.submit(ADA, "time-traveller")
    rig.cycle()
    placed = rig.get(job_id).dispatched_at
    assert placed is not None
    rig.clock.advance(timedelta(minutes=10))
    now = rig.clock.now()
    rig.engine.times[job_id] = (placed - timedelta(days=3), now + timedelta(days=365))
    rig.finish(job_id)
    rig.cycle()
    done = rig.get(job_id)
    assert (done.started_at, done.ended_at) == (placed, now)


def test_a_cancelled_job_its_engine_forgets_stays_cancelled(rig: Rig) -> None:
    """An engine that deletes a job on cancel (Kubernetes) then says UNKNOWN: never a requeue."""
    rig.engine.forget_on_cancel = True
    job_id = rig.submit(ADA, "stopped")
    rig.cycle()
    rig.jobs.cancel(ADA, job_id)
    rig.cycle()
    rig.clock.advance(timedelta(minutes=5))
    rig.cycle()
    job = rig.get(job_id)
    assert job.status is JobStatus.CANCELLED, job.reason
    assert rig.engine.submissions == 1


def test_an_attempt_without_outputs_adds_nothing_to_the_log_however_often_looked_at(
    rig: Rig, platform: Platform
) -> None:
    """A new leader looks again at completed jobs without outputs: each look must not log anew."""
    job_id = rig.submit(ADA, "no-outputs")
    for _ in range(3):
        assert rig.jobs.record_artifacts(job_id, []) == []
    platform.log.drain()
    logged = [e for e in platform.log.entries(0, platform.log.size()) if job_id in e.data.decode()]
    assert [e.event_type for e in logged] == ["jobs.job.submitted"]


def test_jobs_that_ended_together_close_together_and_a_close_that_fails_fails_alone(
    rig: Rig, platform: Platform
) -> None:
    first, meanwhile, last = (rig.submit(ADA, name) for name in ("first", "meanwhile", "last"))
    rig.cycle()
    for job_id in (first, meanwhile, last):
        rig.finish(job_id)

    def closed_meanwhile() -> None:  # an operator closes one between the cycle's read and its close
        rig.jobs.finish(
            meanwhile, JobAction.FAIL, exit_code=None, reason="by hand", started_at=None, ended_at=None
        )

    rig.engine.before_status.append(closed_meanwhile)
    before = _logged_about(platform, meanwhile)
    report = rig.cycle()
    assert (rig.get(first).status, rig.get(last).status) == (JobStatus.COMPLETED, JobStatus.COMPLETED)
    assert (rig.get(meanwhile).status, rig.get(meanwhile).reason) == (JobStatus.FAILED, "by hand")
    assert report.finished == 2
    assert _mentions(report, meanwhile, "close failed")
    assert sorted(rig.usage.recorded) == sorted(rig.get(j).idempotency_key for j in (first, last))
    assert _logged_about(platform, meanwhile) == before + 1  # the close by hand; the failed one left none


def _logged_about(platform: Platform, job_id: str) -> int:
    with platform.engine.connect() as conn:
        return sum(job_id in bytes(entry).decode() for (entry,) in conn.execute(sa.select(outbox.c.entry)))


class MeteredApart(FlakyUsage):
    """A usage sink that meters apart (as the server's does): each project's metering is counted."""

    def __init__(self) -> None:
        super().__init__()
        self.metered: list[str] = []
        self.refuse_metering = 0
        self.batches: list[int] = []  # how many records each batch offered
        self.meterings = 0  # metering set up (its policy read): once a cycle with something to meter

    def record_unmetered(self, usages: Sequence[JobUsage]) -> Sequence[object]:
        self.batches.append(len(usages))
        return [self._offered(u.job_id) for u in usages]

    def _offered(self, job_id: str) -> object:
        try:
            return self.record_usage(job_id=job_id)
        except RuntimeError as exc:  # refused alone, as accounting's savepoint does
            return exc

    def metering(self) -> Callable[[Sequence[str]], Sequence[object]]:
        self.meterings += 1
        return self.meter

    def meter(self, projects: Sequence[str]) -> Sequence[object]:
        if self.refuse_metering:
            self.refuse_metering -= 1
            raise RuntimeError("safety is busy")
        self.metered.extend(projects)
        return [None] * len(projects)


def test_a_cycles_usage_is_metered_once_per_project_and_metering_that_fails_is_retried(rig: Rig) -> None:
    sink = MeteredApart()
    rig.dispatcher.usage = UsageRecorder(sink)
    ids = [rig.submit(ADA, f"j{i}") for i in range(3)]
    rig.cycle()
    for job_id in ids:
        rig.finish(job_id)
    sink.refuse_metering = 1
    report = rig.cycle()
    assert len(sink.recorded) == 3
    assert sink.batches == [3]  # the three closed together: their records in one batch
    assert sink.metered == []
    assert any("project open-llm: usage not metered (try 1 of 3" in e for e in report.errors)
    rig.cycle()
    assert sink.metered == ["open-llm"]  # once, for the three records
    rig.cycle()
    assert sink.metered == ["open-llm"]  # nothing new: nothing metered again
    assert sink.meterings == 2  # the policy read once a cycle that meters, never per project


def test_a_record_refused_in_a_batch_fails_alone_and_is_sent_again_next_cycle(rig: Rig) -> None:
    sink = MeteredApart()
    rig.dispatcher.usage = UsageRecorder(sink)
    ids = [rig.submit(ADA, f"j{i}") for i in range(3)]
    rig.cycle()
    keys = [rig.get(job_id).idempotency_key for job_id in ids]
    sink.refuse_once.add(keys[1])
    for job_id in ids:
        rig.finish(job_id)
    report = rig.cycle()
    assert sorted(sink.recorded) == sorted([keys[0], keys[2]])
    assert _mentions(report, ids[1], "usage not recorded (try 1 of 3")
    assert sink.metered == ["open-llm"]
    rig.cycle()
    assert sorted(sink.recorded) == sorted(keys)
    assert sink.batches == [3, 1]  # the refused one, alone, the next cycle
    assert sink.metered == ["open-llm", "open-llm"]  # its project metered again for it
