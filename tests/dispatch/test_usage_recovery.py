"""A dispatcher that stops between closing a job and recording its usage: the next leader records
it, once (docs/adr/0006), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pnyx.accounting.model import UsageRecord
from pnyx.accounting.store import UsageRepository
from pnyx.adapters import MeteredUsage
from pnyx.core.clock import FrozenClock
from pnyx.core.ids import UserId
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.usage import USAGE_RECOVERY, RecordedSink, UsageRecorder, UsageSink
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform

ANA = Principal(user_id=UserId("usr_ana"), name="ana", roles=frozenset({Role.RESEARCHER}))


class Projects:
    def project(self, project_id: str) -> ProjectInfo | None:
        return ProjectInfo(id=project_id, member_state="DE", members=frozenset(), over_budget=False)


class Stopping:
    """A sink whose dispatcher stops before any record lands: it records nothing."""

    def record_usage(self, **_usage: object) -> object:
        raise RuntimeError("the dispatcher stopped here")


class Blind:
    """Accounting, but saying it holds nothing: recovery queues what is recorded already."""

    def __init__(self, platform: Platform) -> None:
        self.accounting = platform.accounting

    def record_usage(self, **usage: object) -> object:
        return self.accounting.record_usage(**usage)  # type: ignore[arg-type]

    def recorded_since(self, since: datetime) -> set[str]:
        return set()


class Counting(Blind):
    """Accounting, counting what is sent to it."""

    sent = 0

    def record_usage(self, **usage: object) -> object:
        self.sent += 1
        return super().record_usage(**usage)

    def recorded_since(self, since: datetime) -> set[str]:
        return self.accounting.recorded_since(since)


class Facility:
    def __init__(self, platform: Platform, clock: FrozenClock, tmp_path: Path) -> None:
        platform.inventory.generate(96, seed=1)
        self.platform, self.clock, self.lock = platform, clock, tmp_path / "lock"
        self.fake = FakeExecutor(clock)
        self.jobs = JobService(
            platform.uow,
            projects=Projects(),
            executors={"fake": self.fake},
            default_engine="fake",
            fits=fit_check(platform.topology),
        )

    def dispatcher(self, usage: UsageSink | None) -> Dispatcher:
        return Dispatcher(
            jobs=self.jobs,
            topology=self.platform.topology.topology,
            executors={"fake": self.fake},
            shares=lambda _at: {},
            clock=self.clock,
            policy=policy_named("full"),
            leadership=FileLeadership(self.lock),
            usage=usage,
        )

    def cycle(self, usage: UsageSink | None) -> list[str]:
        """One cycle of a new leader, which then stops: its errors."""
        d = self.dispatcher(usage)
        try:
            return d.cycle().errors
        finally:
            d.leadership.release()
            d.close()

    def closed_job(self, usage: UsageSink | None) -> JobRecord:
        """A job run for an hour and closed by a dispatcher using ``usage``."""
        wanted = Submission(
            name="j", project="de-a", accelerators=8, estimate_s=7_200, command=("t",), engine="fake"
        )
        job_id = self.jobs.submit(ANA, wanted).id
        self.cycle(None)
        self.clock.advance(timedelta(hours=1))
        self.fake.finish(self.jobs.get(LOCAL_CONSOLE, job_id).idempotency_key)
        self.cycle(usage)
        job = self.jobs.get(LOCAL_CONSOLE, job_id)
        assert job.status is JobStatus.COMPLETED
        return job

    def records(self) -> list[UsageRecord]:
        with self.platform.uow.read() as conn:
            return UsageRepository(conn).ended_since(None)


def test_a_new_leader_records_the_usage_a_stopped_one_lost(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    facility = Facility(platform, clock, tmp_path)
    job = facility.closed_job(Stopping())
    assert facility.records() == []  # closed, then the dispatcher stopped: no record

    assert facility.cycle(platform.accounting) == []
    [record] = facility.records()
    assert job.started_at is not None
    assert job.ended_at is not None
    assert (record.job_id, record.project_id, record.accelerators) == (job.idempotency_key, "de-a", 8)
    assert (record.started_at, record.ended_at) == (job.started_at, job.ended_at)
    assert record.accelerator_seconds == 8 * int((job.ended_at - job.started_at).total_seconds())

    assert facility.cycle(platform.accounting) == []  # a second restart records nothing more
    assert facility.records() == [record]


def test_a_recorded_usage_is_not_queued_again(platform: Platform, clock: FrozenClock, tmp_path: Path) -> None:
    facility = Facility(platform, clock, tmp_path)
    facility.closed_job(platform.accounting)
    [record] = facility.records()
    sink = Counting(platform)
    recorder = UsageRecorder(sink)
    assert recorder.recover(facility.jobs, clock.now(), []) is True
    errors: list[str] = []
    recorder.flush(errors)
    assert errors == []
    assert sink.sent == 0  # the diff left nothing to send
    assert facility.records() == [record]


def test_a_record_that_landed_after_all_is_refused_not_doubled(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    facility = Facility(platform, clock, tmp_path)
    facility.closed_job(platform.accounting)
    [record] = facility.records()
    assert facility.cycle(Blind(platform)) == []  # queued again: accounting refuses the duplicate key
    assert facility.records() == [record]


def test_usage_older_than_the_window_is_not_recovered(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    facility = Facility(platform, clock, tmp_path)
    facility.closed_job(Stopping())
    clock.advance(USAGE_RECOVERY + timedelta(seconds=1))
    assert facility.cycle(platform.accounting) == []
    assert facility.records() == []


def test_a_failed_scan_is_reported_and_the_lead_taken_again(
    platform: Platform, clock: FrozenClock, tmp_path: Path
) -> None:
    class Failing(Blind):
        def recorded_since(self, since: datetime) -> set[str]:
            raise RuntimeError("accounting unreachable")

    facility = Facility(platform, clock, tmp_path)
    facility.closed_job(Stopping())
    d = facility.dispatcher(Failing(platform))
    try:
        [error] = d.cycle().errors
        assert error.startswith("usage recovery failed, tried again next cycle")
        d.usage.sink = platform.accounting
        assert d.cycle().errors == []
    finally:
        d.leadership.release()
        d.close()
    assert len(facility.records()) == 1


def test_the_servers_usage_sink_can_be_scanned(platform: Platform) -> None:
    """The server's dispatcher (``dispatch.runner``) records usage through ``MeteredUsage``: without
    ``recorded_since`` the recovery would skip itself there."""
    sink = MeteredUsage(platform.accounting, platform.safety)
    assert isinstance(sink, RecordedSink)
    assert sink.recorded_since(datetime(2026, 1, 1, tzinfo=UTC)) == set()
