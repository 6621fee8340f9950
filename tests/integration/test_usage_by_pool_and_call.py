"""The same usage summed by pool and by call agrees (both backends): a record's pool and call both
come from its project's allocation, so the demo's reports, and the dispatcher's records, cannot file
one job under the open calls' pool and under no call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pnyx.accounting.model import Dimension, Period
from pnyx.core.errors import InvalidInput
from pnyx.demo.service import seed_demo
from pnyx.governance.policy import Pool
from pnyx.wiring import Platform
from tests.integration.test_job_safety import Facility

START = datetime(2026, 11, 2, tzinfo=UTC)
NOVEMBER = Period(
    start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC), label="2026-11"
)


def _hours(platform: Platform, period: Period, by: Dimension) -> dict[str, Decimal]:
    return {g.key: g.accelerator_hours for g in platform.accounting.usage(period, by)}


def _use(platform: Platform, job_id: str, project: str, **extra: object) -> None:
    platform.accounting.record_usage(
        job_id=job_id,
        project_id=project,
        accelerator_type="H100-SXM",
        accelerators=8,
        started_at=START,
        ended_at=START + timedelta(hours=10),
        **extra,  # type: ignore[arg-type]
    )


def test_an_awarded_projects_usage_is_filed_under_its_allocations_pool_and_call(platform: Platform) -> None:
    facility = Facility(platform)
    project = facility.project("alice", hours=100_000)
    _use(platform, "awarded", project)  # as the dispatcher records it: neither pool nor call named
    _use(platform, "member-work", "prj-of-a-member-pool", pool=Pool.MEMBER_POOLS.value)
    by_pool = _hours(platform, NOVEMBER, Dimension.POOL)
    by_call = _hours(platform, NOVEMBER, Dimension.CALL)
    assert by_pool == {Pool.OPEN_CALLS.value: Decimal(80), Pool.MEMBER_POOLS.value: Decimal(80)}
    assert by_call == {facility.call.id: Decimal(80), "(none)": Decimal(80)}
    assert sum(by_pool.values()) == sum(by_call.values())


@pytest.mark.parametrize(
    ("named", "field"),
    [({"pool": Pool.MEMBER_POOLS.value}, "pool"), ({"call_id": "call_other"}, "call_id")],
)
def test_a_pool_or_call_that_contradicts_the_allocation_is_refused(
    platform: Platform, named: dict[str, str], field: str
) -> None:
    project = Facility(platform).project("alice", hours=100_000)
    with pytest.raises(InvalidInput) as refused:
        _use(platform, "contradicted", project, **named)
    assert refused.value.field == field


def test_a_call_without_an_allocation_is_refused(platform: Platform) -> None:
    with pytest.raises(InvalidInput) as refused:
        _use(platform, "unfunded", "prj-without-award", call_id="call_x")
    assert refused.value.field == "call_id"


def test_the_demos_usage_agrees_by_pool_and_by_call(platform: Platform) -> None:
    assert seed_demo(platform, accelerators=2048).seeded
    month = Period(
        start=platform.clock.now() - timedelta(days=31), end=platform.clock.now(), label="the demo's month"
    )
    by_pool = _hours(platform, month, Dimension.POOL)
    by_call = _hours(platform, month, Dimension.CALL)
    calls = {c.id for c in platform.allocation.calls()}
    assert set(by_call) - {"(none)"} <= calls
    assert set(by_call) & calls
    assert sum(by_pool.values()) == sum(by_call.values())
    awarded = sum((h for key, h in by_call.items() if key != "(none)"), Decimal(0))
    assert awarded == by_pool[Pool.OPEN_CALLS.value]  # the demo's one call draws on the open calls' pool
    assert by_call["(none)"] == by_pool[Pool.MEMBER_POOLS.value]
