"""Pure accounting rules: energy estimates, periods, apportioning, member-state comparison.

Energy: board power per accelerator type (vendor figures: H100-SXM and H200 700 W, GB200 1,200 W
per GPU including its share of the Grace CPU, MI300X 750 W, Gaudi 3 900 W) times a facility PUE of
1.2. It is an estimate until metered power is fed in.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from pnyx.accounting.model import Dimension, MemberStateUsage, Period, UsageGroup, UsageRecord
from pnyx.core.errors import Forbidden, InvalidInput, Unauthenticated
from pnyx.identity.model import Principal, Role
from pnyx.scheduler.fairshare import Span

STANDING_STAFF = frozenset({Role.OPERATOR, Role.AUDITOR})  # see every project's standing

BOARD_WATTS = {"H100-SXM": 700, "H200": 700, "GB200": 1200, "MI300X": 750, "Gaudi3": 900}
DEFAULT_WATTS = 700
PUE = Decimal("1.2")
HOUR = Decimal(3600)

# Periods lie within the years the API accepts for any time (no date arithmetic overflows there).
FIRST_YEAR, LAST_YEAR = 1970, 2999
_MONTH = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.ASCII)
_YEAR = re.compile(r"^(\d{4})$", re.ASCII)
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$", re.ASCII)
_LAST = re.compile(r"^last-(\d{1,4})d$", re.ASCII)


def energy_wh(accelerator_type: str, accelerator_seconds: int) -> int:
    watts = BOARD_WATTS.get(accelerator_type, DEFAULT_WATTS)
    return int(Decimal(watts) * PUE * Decimal(accelerator_seconds) / HOUR)


def span_of(record: UsageRecord) -> Span:
    """A finished job's use as fair share counts it: its user's accelerators over its run (the
    scheduler's keys: a job without a member state is member "-"; a record without a user, "-")."""
    key = (record.member_state or "-", record.project_id, record.user_id or "-")
    return Span(key, record.accelerators, record.started_at.timestamp(), record.ended_at.timestamp())


class Funding(Protocol):
    """An allocation as usage reads it (the allocation domain's ``Allocation`` is one)."""

    @property
    def pool(self) -> str: ...

    @property
    def call_id(self) -> str: ...


def funding(
    allocation: Funding | None, *, pool: str | None, call_id: str | None
) -> tuple[str | None, str | None]:
    """The (pool, call) a usage record is filed under: its project's allocation's, whatever the caller
    says; without an allocation, the pool the caller names and no call (a call funds work only
    through an allocation). A caller who names another pool or call than the allocation's is refused."""
    if allocation is None:
        if call_id is not None:
            raise InvalidInput(
                "a call funds work only through an allocation; this project has none", field="call_id"
            )
        return pool, None
    if pool is not None and pool != allocation.pool:
        raise InvalidInput(f"the project's allocation draws on the {allocation.pool} pool", field="pool")
    if call_id is not None and call_id != allocation.call_id:
        raise InvalidInput(f"the project was awarded by call {allocation.call_id}", field="call_id")
    return str(allocation.pool), str(allocation.call_id)


def parse_period(text: str, now: datetime) -> Period:
    """``2026-11``, ``2026-Q4``, ``2026``, ``2026-11-01..2026-11-30`` (inclusive days) or ``last-30d``."""
    text = text.strip()
    if m := _MONTH.match(text):
        month = int(m[2])
        _check(1 <= month <= 12, text)
        start = datetime(_year(m[1], text), month, 1, tzinfo=UTC)
        return Period(start=start, end=_add_months(start, 1), label=text)
    if m := _QUARTER.match(text):
        start = datetime(_year(m[1], text), 3 * int(m[2]) - 2, 1, tzinfo=UTC)
        return Period(start=start, end=_add_months(start, 3), label=text)
    if m := _YEAR.match(text):
        start = datetime(_year(m[1], text), 1, 1, tzinfo=UTC)
        return Period(start=start, end=_add_months(start, 12), label=text)
    if m := _RANGE.match(text):
        start, last = _day(m[1], text), _day(m[2], text)
        _check(last >= start, text)
        return Period(start=start, end=last + timedelta(days=1), label=text)
    if m := _LAST.match(text):
        days = int(m[1])
        _check(days > 0, text)
        end = now.astimezone(UTC)
        return Period(start=end - timedelta(days=days), end=end, label=text)
    raise InvalidInput(
        f"unknown period {text!r}; use 2026-11, 2026-Q4, 2026, 2026-11-01..2026-11-30 or last-30d",
        field="period",
    )


def _year(digits: str, text: str) -> int:
    year = int(digits)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"a period lies in {FIRST_YEAR} to {LAST_YEAR}; got {text!r}", field="period")
    return year


def _day(iso: str, text: str) -> datetime:
    _year(iso[:4], text)
    try:
        return datetime.fromisoformat(iso).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"not a valid date range: {text!r}", field="period") from None


def _check(ok: bool, text: str) -> None:
    if not ok:
        raise InvalidInput(f"not a valid period: {text!r}", field="period")


def _add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def overlap_fraction(record: UsageRecord, period: Period) -> Decimal:
    """The share of a record's run time that falls inside the period (usage is apportioned)."""
    duration = (record.ended_at - record.started_at).total_seconds()
    if duration <= 0:
        return Decimal(1) if period.start <= record.started_at < period.end else Decimal(0)
    inside = (min(record.ended_at, period.end) - max(record.started_at, period.start)).total_seconds()
    return Decimal(max(0.0, inside)) / Decimal(duration)


def group_usage(records: Iterable[UsageRecord], period: Period, by: Dimension) -> list[UsageGroup]:
    hours: dict[str, Decimal] = defaultdict(Decimal)
    normalised: dict[str, Decimal] = defaultdict(Decimal)
    energy: dict[str, Decimal] = defaultdict(Decimal)
    jobs: dict[str, int] = defaultdict(int)
    for r in records:
        part = overlap_fraction(r, period)
        if part == 0:
            continue
        key = _key(r, by)
        hours[key] += Decimal(r.accelerator_seconds) * part / HOUR
        normalised[key] += Decimal(r.h100_equivalent_seconds) * part / HOUR
        energy[key] += Decimal(r.energy_wh) * part / 1000
        jobs[key] += 1
    return [
        UsageGroup(
            key=k,
            accelerator_hours=hours[k],
            h100_equivalent_hours=normalised[k],
            energy_kwh=energy[k],
            jobs=jobs[k],
        )
        for k in sorted(hours)
    ]


def _key(record: UsageRecord, by: Dimension) -> str:
    value = {
        Dimension.MEMBER_STATE: record.member_state,
        Dimension.PROJECT: record.project_id,
        Dimension.POOL: record.pool,
        Dimension.CALL: record.call_id,
        Dimension.DISCIPLINE: record.discipline,
        Dimension.ACCELERATOR_TYPE: record.accelerator_type,
    }[by]
    return value or "(none)"


def compare_with_entitlements(
    used_hours: Mapping[str, Decimal], shares: Mapping[str, Decimal]
) -> list[MemberStateUsage]:
    """Each member state's use against its entitled share of all use in the period.

    ``entitled_hours`` is what the state would have received had every accelerator-hour used in the
    period been divided by the shares in force, so shortfalls and excesses add up to zero."""
    total_used = sum(used_hours.values(), Decimal(0))
    rows = []
    for state in sorted(set(shares) | {s for s in used_hours if s != "(none)"}):
        share = shares.get(state, Decimal(0))
        used = used_hours.get(state, Decimal(0))
        rows.append(
            MemberStateUsage(
                member_state=state,
                entitled_share=share,
                entitled_hours=share * total_used,
                used_hours=used,
                used_share=used / total_used if total_used else Decimal(0),
            )
        )
    return rows


def check_may_see_standing(principal: Principal, team: Collection[str]) -> None:
    """A project's standing is for its team (``team``: user ids, its PI among them), operators and
    auditors; anyone else signed in is refused (Forbidden), the public asked for a token."""
    if principal.roles & STANDING_STAFF or (principal.user_id is not None and principal.user_id in team):
        return
    if not principal.authenticated:
        raise Unauthenticated("a project's standing needs an API token (Authorization: Bearer ...)")
    raise Forbidden(
        f"a project's standing is for its team, operators and auditors; {principal.name} is none of them",
        field="project_id",
    )
