"""Pure accounting rules: periods, apportioning, energy, entitlement comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pnyx.accounting.model import Dimension, UsageRecord
from pnyx.accounting.rules import compare_with_entitlements, energy_wh, group_usage, parse_period
from pnyx.core.errors import InvalidInput

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _record(start: datetime, hours: int, state: str = "DE", accelerators: int = 8) -> UsageRecord:
    seconds = hours * 3600 * accelerators
    return UsageRecord(
        id="u",
        job_id=f"j{start:%s}{state}",
        project_id="p",
        member_state=state,
        accelerator_type="H100-SXM",
        accelerators=accelerators,
        started_at=start,
        ended_at=start + timedelta(hours=hours),
        accelerator_seconds=seconds,
        h100_equivalent_seconds=seconds,
        energy_wh=energy_wh("H100-SXM", seconds),
    )


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-11", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-Q4", datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-11-01..2026-11-30", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        ("last-7d", NOW - timedelta(days=7), NOW),
    ],
)
def test_periods(text: str, start: datetime, end: datetime) -> None:
    period = parse_period(text, NOW)
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize(
    "text",
    [
        "2026-13",
        "2026-00",
        "2026-Q5",
        "yesterday",
        "2026-11-30..2026-11-01",
        "2026-02-30..2026-03-01",
        "last-0d",
        "9999-12",  # the end of the month would be year 10000
        "9999-Q4",
        "9999",
        "9999-12-31..9999-12-31",
        "0000-01",
        "1969-12",
        "3000",
        "2026-11-01..3000-01-01",
        "\u0662\u0660\u0662\u0666",  # Arabic-Indic digits are digits to Python, not to a period
        "2026\x00",
    ],
)
def test_bad_periods(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_period(text, NOW)
    assert info.value.field == "period"


@pytest.mark.parametrize(
    "text", ["1970-01", "2999", "2999-Q4", "2999-12", "2999-12-31..2999-12-31", "last-9999d"]
)
def test_periods_at_the_edges_of_the_years(text: str) -> None:
    period = parse_period(text, NOW)
    assert datetime(1970, 1, 1, tzinfo=UTC) <= period.start < period.end <= datetime(3000, 1, 1, tzinfo=UTC)


def test_usage_is_apportioned_to_the_period() -> None:
    period = parse_period("2026-11", NOW)
    spanning = _record(datetime(2026, 10, 31, 12, tzinfo=UTC), 24)  # half in October
    inside = _record(datetime(2026, 11, 10, tzinfo=UTC), 10, state="FR")
    outside = _record(datetime(2026, 12, 2, tzinfo=UTC), 10)
    groups = {g.key: g for g in group_usage([spanning, inside, outside], period, Dimension.MEMBER_STATE)}
    assert groups["DE"].accelerator_hours == Decimal(12 * 8)
    assert groups["FR"].accelerator_hours == Decimal(10 * 8)
    assert groups["DE"].jobs == 1


def test_energy_estimate() -> None:
    assert energy_wh("H100-SXM", 3600) == 840  # 700 W x PUE 1.2 for one accelerator-hour
    assert energy_wh("GB200", 3600) == 1440


def test_entitlement_comparison_shows_shortfall_and_excess() -> None:
    rows = compare_with_entitlements(
        {"DE": Decimal(600), "FR": Decimal(400)},
        {"DE": Decimal("0.5"), "FR": Decimal("0.25"), "IT": Decimal("0.25")},
    )
    by = {r.member_state: r for r in rows}
    assert by["DE"].difference_hours == Decimal(100)  # 600 used of 0.5 x 1,000
    assert by["IT"].difference_hours == Decimal(-250)
    assert by["DE"].share_gap_points == Decimal(10)
    assert by["FR"].share_gap_points == Decimal(15)
    assert by["IT"].used_hours == 0
    assert by["IT"].share_gap_points == Decimal(-25)
