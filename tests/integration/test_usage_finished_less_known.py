"""The fair-share history's read of finished work (``AccountingService.finished``) less the records
it folded already: the same records, in the same order, as the whole read filtered, on SQLite and
PostgreSQL, with ties in the end time, a window, and more new records than one query takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pnyx.accounting.model import UsageRecord
from pnyx.accounting.store import UsageRepository
from pnyx.wiring import Platform

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _records(n: int) -> list[UsageRecord]:
    """``n`` records, ends in ties of three (a batch closed at once), ids not in end order."""
    return [
        UsageRecord(
            id=f"use_{(i * 7919) % 10_007:05d}",
            job_id=f"job_{i}:0",
            project_id=f"p{i % 4}",
            member_state="DE",
            accelerator_type="H100-SXM",
            accelerators=8,
            started_at=T0,
            ended_at=T0 + timedelta(minutes=i // 3),
            accelerator_seconds=8 * 60,
            h100_equivalent_seconds=8 * 60,
            energy_wh=1,
            user_id="ana",
        )
        for i in range(n)
    ]


def _added(platform: Platform, records: list[UsageRecord]) -> None:
    with platform.uow.write() as tx:
        for record in records:
            UsageRepository(tx.conn).add(record)


@pytest.mark.parametrize("count", [40, 1_300])
def test_finished_less_the_known_is_the_whole_read_filtered(platform: Platform, count: int) -> None:
    records = _records(count)
    _added(platform, records)
    accounting = platform.accounting
    since = T0 + timedelta(minutes=5)
    for known in (set(), {r.id for r in records[::2]}, {r.id for r in records[: count - 3]}):
        whole = [(rid, span) for rid, span in accounting.finished(since) if rid not in known]
        assert accounting.finished(since, known) == whole
    assert accounting.finished(None, {r.id for r in records}) == []
    assert [rid for rid, _ in accounting.finished(None, set())] == [
        rid for rid, _ in accounting.finished(None)
    ]
