"""Accounting on both databases: usage recorded once, per-state comparison, standing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pnyx.accounting.model import Dimension, JobUsage, Standing
from pnyx.accounting.service import AccountingService, NoBudgets
from pnyx.core.errors import Conflict, InvalidInput
from pnyx.wiring import Platform

START = datetime(2026, 11, 2, tzinfo=UTC)


def _seed(platform: Platform) -> None:
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=300, population=1)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=100, population=1)
    platform.inventory.generate(64)


def test_report_against_entitlements(platform: Platform) -> None:
    _seed(platform)
    acct = platform.accounting
    acct.record_usage(
        job_id="j1",
        project_id="p-de",
        accelerator_type="H100-SXM",
        accelerators=32,
        started_at=START,
        ended_at=START + timedelta(hours=10),
        member_state="DE",
        pool="member",
    )
    acct.record_usage(
        job_id="j2",
        project_id="p-fr",
        accelerator_type="GB200",
        accelerators=32,
        started_at=START,
        ended_at=START + timedelta(hours=10),
        member_state="FR",
        pool="open",
    )
    rows = {r.member_state: r for r in acct.member_states(acct.period("2026-11"))}
    assert rows["DE"].entitled_share == Decimal("0.75")
    assert rows["DE"].used_hours == Decimal(320)
    assert rows["DE"].entitled_hours == Decimal("0.75") * 640
    assert sum(r.difference_hours for r in rows.values()) == 0
    assert acct.utilisation(acct.period("2026-11")) == Decimal(640) / (64 * 30 * 24)
    assert rows["FR"].share_gap_points == Decimal(25)
    pools = {g.key: g for g in acct.usage(acct.period("2026-11"), Dimension.POOL)}
    assert pools["open"].h100_equivalent_hours == Decimal(320) * Decimal("2.5")
    assert platform.log.drain() == 5


def test_usage_is_recorded_once_and_validated(platform: Platform) -> None:
    acct = platform.accounting
    acct.record_usage(
        job_id="j1",
        project_id="p",
        accelerator_type="H100-SXM",
        accelerators=8,
        started_at=START,
        ended_at=START + timedelta(hours=1),
    )
    with pytest.raises(Conflict):
        acct.record_usage(
            job_id="j1",
            project_id="p",
            accelerator_type="H100-SXM",
            accelerators=8,
            started_at=START,
            ended_at=START + timedelta(hours=1),
        )
    with pytest.raises(InvalidInput):
        acct.record_usage(
            job_id="j2",
            project_id="p",
            accelerator_type="H100-SXM",
            accelerators=8,
            started_at=START,
            ended_at=START - timedelta(hours=1),
        )
    with pytest.raises(InvalidInput, match="unknown accelerator type"):
        acct.record_usage(
            job_id="j3",
            project_id="p",
            accelerator_type="TPU",
            accelerators=8,
            started_at=START,
            ended_at=START + timedelta(hours=1),
        )
    assert platform.log.drain() == 1


class FixedBudgets(NoBudgets):
    def allocated_hours(self, project_id: str, at: datetime) -> Decimal | None:
        return Decimal(100) if project_id == "funded" else None


def test_over_budget_goes_opportunistic(platform: Platform) -> None:
    acct = AccountingService(
        platform.uow,
        budgets=FixedBudgets(),
        shares_at=lambda _at: {},
        capacity=lambda: 8,
        speed_of=lambda _t: 1.0,
    )
    assert acct.standing("funded").standing is Standing.WITHIN_BUDGET
    acct.record_usage(
        job_id="a",
        project_id="funded",
        accelerator_type="H100-SXM",
        accelerators=8,
        started_at=START,
        ended_at=START + timedelta(hours=10),
    )
    assert acct.standing("funded").remaining_hours == Decimal(20)
    acct.record_usage(
        job_id="b",
        project_id="funded",
        accelerator_type="H100-SXM",
        accelerators=8,
        started_at=START,
        ended_at=START + timedelta(hours=10),
    )
    standing = acct.standing("funded")
    assert standing.standing is Standing.OVER_BUDGET
    assert standing.remaining_hours == Decimal(-60)
    assert acct.standing("other").standing is Standing.NO_ALLOCATION
    types = [e.event_type for e in platform.log.entries(0, 10)] if platform.log.drain() else []
    assert types.count("accounting.project.over_budget") == 1


def _use(job_id: str, project: str = "funded", hours: int = 10, kind: str = "H100-SXM") -> JobUsage:
    return JobUsage(
        job_id=job_id,
        project_id=project,
        accelerator_type=kind,
        accelerators=8,
        started_at=START,
        ended_at=START + timedelta(hours=hours),
    )


def test_a_batch_is_one_transaction_where_a_refused_record_fails_alone(platform: Platform) -> None:
    acct = AccountingService(
        platform.uow,
        budgets=FixedBudgets(),
        shares_at=lambda _at: {},
        capacity=lambda: 8,
        speed_of=platform.accounting.speed_of,
    )
    acct.record_usage(**{f: getattr(_use("before"), f) for f in JobUsage.__slots__})  # 80 of 100 hours
    offered = [_use("a", hours=1), _use("before"), _use("bad", kind="TPU"), _use("b", hours=2)]
    offered += [_use("c", hours=-1), _use("other", project="unfunded")]
    done = acct.record_usages(offered)
    assert [type(d).__name__ for d in done] == [
        "UsageRecord", "Conflict", "InvalidInput", "UsageRecord", "InvalidInput", "UsageRecord"
    ]  # fmt: skip
    assert acct.standing("funded").used_hours == Decimal(80 + 8 + 16)
    types = [e.event_type for e in platform.log.entries(0, platform.log.drain())]
    assert types.count("accounting.usage.recorded") == 4  # one per record, none for the refused
    assert types.count("accounting.project.over_budget") == 1  # crossed by "b", counted through "a"
    assert acct.record_usages([]) == []
