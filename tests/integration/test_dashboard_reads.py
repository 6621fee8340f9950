"""The dashboard's reads on both databases: log entries by type or domain, paged either way; the
jobs' times over a period; the accounting's history step by step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pnyx.accounting.history import with_queue
from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.store import JobRepository
from pnyx.jobs.timeline import JobTimeline
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass
from pnyx.wiring import Platform

T0 = datetime(2025, 12, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_entries_of_a_type_or_a_domain_page_both_ways(platform: Platform) -> None:
    for i in range(5):
        platform.identity.register_user(name=f"p{i}", roles=["researcher"])
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=1, population=1)
    platform.log.drain()
    users = [e.index for e in platform.log.entries_of("identity.user.registered", 100)]
    assert len(users) == 5
    assert users == sorted(users)
    assert [e.index for e in platform.log.entries_of("identity.user.registered", 2)] == users[-2:]
    assert [
        e.index for e in platform.log.entries_of("identity.user.registered", 2, before=users[3])
    ] == users[1:3]
    assert [e.index for e in platform.log.entries_of("identity.user.registered", 2, start=users[1])] == users[
        1:3
    ]
    governance = platform.log.entries_of("governance", 100)
    assert {e.event_type.split(".")[0] for e in governance} == {"governance"}
    assert platform.log.entries_of("identity.user", 100) == []  # a type is matched whole
    assert platform.log.entries_of("gov%", 100) == []  # no pattern characters
    assert platform.log.entries_of("governance.member_state.admitted", 10)[0].index == governance[0].index


def job(job_id: str, submitted: datetime, started: datetime | None, ended: datetime | None) -> JobRecord:
    return JobRecord(
        id=job_id,
        name=job_id,
        project="prj",
        user="u",
        engine="local",
        accelerator_type="H100-SXM",
        accelerators=1,
        estimate_s=60,
        checkpoint_s=0,
        priority_class=PriorityClass.ENTITLED,
        label=Label(level=SafetyLevel.L1),
        status=JobStatus.PENDING if started is None else JobStatus.COMPLETED,
        submitted_at=submitted,
        started_at=started,
        ended_at=ended,
    )


def test_the_jobs_times_over_a_period_and_the_history(platform: Platform) -> None:
    day = timedelta(days=1)
    with platform.uow.write() as tx:
        repo = JobRepository(tx.conn)
        repo.add(job("waiting", T0 + HOUR, None, None))
        repo.add(job("done_before", T0 - day * 3, T0 - day * 3, T0 - day * 2))  # outside the period
        repo.add(job("ran", T0, T0 + HOUR, T0 + day + HOUR))
        repo.add(job("later", T0 + day * 5, None, None))  # submitted after it
    timeline = JobTimeline(platform.uow).times(T0, T0 + day * 2)
    assert sorted(t[0] for t in timeline) == [T0, T0 + HOUR]
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=1, population=1)
    platform.inventory.generate(64, seed=1)
    platform.accounting.record_usage(
        job_id="ran",
        project_id="prj",
        accelerator_type="H100-SXM",
        accelerators=2,
        started_at=T0 + HOUR,
        ended_at=T0 + day + HOUR,
        member_state="DE",
    )
    period = platform.accounting.period("2025-12-01..2025-12-02")
    history = with_queue(platform.accounting.history(period), timeline)
    assert [h.accelerator_hours for h in history] == [46, 2]
    assert [(h.waiting, h.running) for h in history] == [(1, 1), (1, 0)]
    assert history[0].states[0].entitled_share == Decimal(1)
    assert history[0].utilisation == Decimal(46) / (64 * 24)
