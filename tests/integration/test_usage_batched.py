"""A cycle's usage records in few statements (issue 14, ``db.batch``): each project's allocation read
once, the records checked in two reads and written in one statement whatever their number; a record
the database refuses in that statement still fails alone while the others commit. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pnyx.accounting.model import JobUsage, UsageRecord
from pnyx.accounting.service import AccountingService
from pnyx.allocation.award_service import granted_hours
from pnyx.core.errors import Conflict
from pnyx.wiring import Platform
from tests.dispatch.test_job_changes_statements import statements
from tests.integration.test_accounting_service import FixedBudgets
from tests.integration.test_job_safety import Facility

START = datetime(2026, 11, 2, tzinfo=UTC)
TOO_BIG = 2**70  # accelerators: out of every backend's integer range, the row is refused


def _use(job_id: str, project: str = "funded", hours: int = 10, accelerators: int = 8) -> JobUsage:
    return JobUsage(
        job_id=job_id,
        project_id=project,
        accelerator_type="H100-SXM",
        accelerators=accelerators,
        started_at=START,
        ended_at=START + timedelta(hours=hours),
    )


def _accounting(platform: Platform) -> AccountingService:
    return AccountingService(
        platform.uow,
        budgets=FixedBudgets(),
        shares_at=lambda _at: {},
        capacity=lambda: 8,
        speed_of=platform.accounting.speed_of,
    )


def _logged(platform: Platform) -> list[str]:
    return [e.event_type for e in platform.log.entries(0, platform.log.drain())]


def test_a_cycle_s_records_take_few_statements_whatever_their_number(platform: Platform) -> None:
    usages = [_use(f"j{i}", project=f"p{i % 2}", hours=1) for i in range(8)]
    with statements(platform.engine) as seen:
        done = platform.accounting.record_usages(usages)
    assert all(isinstance(d, UsageRecord) for d in done)
    assert len([s for s in seen if s.startswith("INSERT INTO usage_records")]) == 1
    allocations = [s for s in seen if s.startswith("SELECT") and "allocation_allocations" in s]
    assert len(allocations) == 1  # both projects' in one query
    assert len(seen) <= 10, seen  # allocations; recorded, hours, savepoint, insert, release, outbox; BEGINs


def test_a_record_refused_by_the_database_fails_alone(platform: Platform) -> None:
    acct = _accounting(platform)
    done = acct.record_usages([_use("a", hours=5), _use("bad", accelerators=TOO_BIG), _use("b", hours=8)])
    assert isinstance(done[0], UsageRecord)
    assert isinstance(done[1], Exception)
    assert isinstance(done[2], UsageRecord)
    assert acct.standing("funded").used_hours == Decimal(40 + 64)
    types = _logged(platform)
    assert types.count("accounting.usage.recorded") == 2
    assert types.count("accounting.project.over_budget") == 1  # crossed by "b", counted through "a"
    assert isinstance(acct.record_usages([_use("bad")])[0], UsageRecord)  # nothing of it was kept


def test_a_job_offered_twice_in_one_batch_is_recorded_once(platform: Platform) -> None:
    acct = _accounting(platform)
    done = acct.record_usages([_use("a", hours=5), _use("a", hours=6), _use("b", hours=1)])
    assert [type(d) for d in done] == [UsageRecord, Conflict, UsageRecord]
    assert acct.standing("funded").used_hours == Decimal(40 + 8)
    assert _logged(platform).count("accounting.usage.recorded") == 2


def test_an_awarded_project_s_batch_reads_its_allocation_once_and_crosses_it_once(platform: Platform) -> None:
    project = Facility(platform).project("bob", hours=100)
    allocation = platform.awards.allocation(project)
    now = allocation.starts_at + timedelta(hours=5)
    assert granted_hours(allocation, now) == 100
    assert granted_hours(allocation, allocation.starts_at - timedelta(seconds=1)) is None
    assert granted_hours(allocation, allocation.ends_at) is None  # its window is [starts_at, ends_at)
    assert granted_hours(None, now) is None
    usages = [
        JobUsage(
            job_id=f"j{i}",
            project_id=project,
            accelerator_type="H100-SXM",
            accelerators=8,
            started_at=now - timedelta(hours=5),
            ended_at=now,
        )
        for i in range(4)
    ]  # 40 hours each: the third crosses the 100 granted
    drain = platform.log.drain()
    with statements(platform.engine) as seen:
        done = platform.accounting.record_usages(usages)
    assert all(isinstance(d, UsageRecord) and d.call_id is not None for d in done)
    assert len([s for s in seen if s.startswith("SELECT") and "allocation_allocations" in s]) == 1
    types = [e.event_type for e in platform.log.entries(drain, platform.log.drain())]
    assert types.count("accounting.project.over_budget") == 1
    assert platform.accounting.standing(project).used_hours == 160
