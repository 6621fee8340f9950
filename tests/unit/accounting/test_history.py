"""The facility's history (pure): a period in steps, use and shares per step, the queue at each end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pnyx.accounting.history import steps, usage_history, with_queue
from pnyx.accounting.model import Period, UsageRecord

T0 = datetime(2025, 12, 1, tzinfo=UTC)
HALF = {"DE": Decimal("0.5"), "FR": Decimal("0.5")}


def period(days: int) -> Period:
    return Period(start=T0, end=T0 + timedelta(days=days), label=f"{days}d")


def record(state: str, start: datetime, hours: int, accelerators: int = 1) -> UsageRecord:
    seconds = hours * 3600 * accelerators
    return UsageRecord(
        id=f"use_{state}_{start:%d%H}",
        job_id=f"job_{state}_{start:%d%H}",
        project_id="prj",
        member_state=state,
        accelerator_type="H100-SXM",
        accelerators=accelerators,
        started_at=start,
        ended_at=start + timedelta(hours=hours),
        accelerator_seconds=seconds,
        h100_equivalent_seconds=seconds,
        energy_wh=seconds * 840 // 3600,
    )


def test_a_month_is_one_step_a_day_and_a_year_a_week_at_most_sixty_steps() -> None:
    month = steps(period(31))
    assert len(month) == 31
    assert (month[0].start, month[-1].end, month[3].label) == (T0, T0 + timedelta(days=31), "2025-12-04")
    year = steps(period(365))
    assert len(year) == 53
    assert year[-1].end == T0 + timedelta(days=365)
    assert all(s.end - s.start == timedelta(days=7) for s in year[:-1])
    assert len(steps(Period(start=T0, end=T0 + timedelta(hours=5), label="x"))) == 1


def test_use_is_apportioned_to_the_steps_and_compared_with_the_shares_in_force() -> None:
    cuts = steps(period(3))
    across = record("DE", T0 + timedelta(hours=20), 8, accelerators=2)  # 4 h on day 1, 4 h on day 2
    history = usage_history([across, record("FR", T0 + timedelta(days=1), 4)], cuts, [HALF] * 3, capacity=10)
    assert [h.accelerator_hours for h in history] == [8, 12, 0]
    assert history[0].utilisation == Decimal(8) / 240
    de, fr = history[1].states
    assert (de.member_state, de.used_share, de.entitled_share) == ("DE", Decimal("8") / 12, Decimal("0.5"))
    assert fr.used_share == Decimal(4) / 12
    assert history[2].states[0].used_share == 0
    assert history[2].energy_kwh == 0
    assert sum(h.energy_kwh for h in history) == Decimal(16 * 840 + 4 * 840) / 1000


def test_the_queue_is_read_at_each_steps_end() -> None:
    cuts = steps(period(3))
    history = usage_history([], cuts, [HALF] * 3, capacity=10)
    day = timedelta(days=1)
    jobs = [
        (T0, None, None),  # waiting all along
        (T0, T0 + day + timedelta(hours=1), None),  # waiting at day 1's end, running after
        (T0, T0, T0 + day * 2),  # running until the end of day 2 (not running at that instant)
        (T0 + day * 2 + timedelta(hours=1), None, T0 + day * 2 + timedelta(hours=2)),  # cancelled waiting
    ]
    queued = with_queue(history, jobs)
    assert [(h.waiting, h.running) for h in queued] == [(2, 1), (1, 1), (1, 1)]
    assert queued[0].accelerator_hours == history[0].accelerator_hours
