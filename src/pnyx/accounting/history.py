"""The facility's history, pure: a period cut into equal steps, and per step the use, energy,
utilisation, each member state's received share against its entitlement, and the queue.

Use is apportioned to a step by the share of each run inside it (``rules.overlap_fraction``), so
the steps of a period add up to the period. Energy is the accounting's estimate (board power times
PUE, ``rules.energy_wh``): nothing is metered yet. The queue is read at each step's end from the
jobs' submitted, started and ended times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from pnyx.accounting.model import Dimension, MemberStateUsage, Period, UsageRecord
from pnyx.accounting.rules import compare_with_entitlements, group_usage

DAY = timedelta(days=1)
MAX_STEPS = 60
# A job's times: submitted, started (None: never started), ended (None: not ended).
JobTimes = tuple[datetime, datetime | None, datetime | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryStep:
    """One step of a period: what was used in it, and the queue at its end."""

    period: Period
    accelerator_hours: Decimal
    energy_kwh: Decimal  # estimated, not metered
    utilisation: Decimal  # of the facility's accelerator-hours in the step
    states: tuple[MemberStateUsage, ...]  # received share against the entitlement in force at its end
    waiting: int = 0  # jobs submitted and not yet started at its end
    running: int = 0  # jobs started and not yet ended at its end


def steps(period: Period, most: int = MAX_STEPS) -> list[Period]:
    """The period cut into whole days, as many per step as keep the steps to ``most`` (the last
    step ends with the period)."""
    days = max(1, -(-(period.end - period.start) // DAY))
    width = DAY * -(-days // most)
    starts = [period.start + width * i for i in range(-(-days // (width // DAY)))]
    return [
        Period(start=s, end=min(s + width, period.end), label=f"{s:%Y-%m-%d}")
        for s in starts
        if s < period.end
    ]


def usage_history(
    records: Sequence[UsageRecord],
    cuts: Sequence[Period],
    shares: Sequence[Mapping[str, Decimal]],
    capacity: int,
) -> list[HistoryStep]:
    """Each step's use from ``records``, compared with ``shares`` (one mapping per step: the
    entitlements in force at its end); utilisation against ``capacity`` accelerators."""
    return [_step(records, cut, share, capacity) for cut, share in zip(cuts, shares, strict=True)]


def _step(
    records: Sequence[UsageRecord], cut: Period, shares: Mapping[str, Decimal], capacity: int
) -> HistoryStep:
    groups = group_usage(records, cut, Dimension.MEMBER_STATE)
    hours = sum((g.accelerator_hours for g in groups), Decimal(0))
    room = Decimal(capacity) * cut.hours
    return HistoryStep(
        period=cut,
        accelerator_hours=hours,
        energy_kwh=sum((g.energy_kwh for g in groups), Decimal(0)),
        utilisation=hours / room if room else Decimal(0),
        states=tuple(compare_with_entitlements({g.key: g.accelerator_hours for g in groups}, shares)),
    )


def with_queue(history: Sequence[HistoryStep], jobs: Iterable[JobTimes]) -> list[HistoryStep]:
    """The history with each step's queue: jobs waiting and running at its end."""
    times = list(jobs)
    return [
        replace(h, waiting=_count(_waiting, times, h), running=_count(_running, times, h)) for h in history
    ]


def _count(state: Callable[[JobTimes, datetime], bool], jobs: Sequence[JobTimes], step: HistoryStep) -> int:
    return sum(state(j, step.period.end) for j in jobs)


def _waiting(job: JobTimes, at: datetime) -> bool:
    submitted, started, ended = job
    return submitted <= at and (started is None or started > at) and (ended is None or ended > at)


def _running(job: JobTimes, at: datetime) -> bool:
    _, started, ended = job
    return started is not None and started <= at and (ended is None or ended > at)
