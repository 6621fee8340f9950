"""Accounting bodies. Hours are decimal strings, so no float rounding crosses the wire."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from pnyx.accounting.model import MemberStateUsage, ProjectStanding, UsageGroup, UsageRecord
from pnyx.api.schemas.storable import Instant, Str

MAX_ACCELERATORS = 1_000_000  # in one usage record: ten times the largest facility we plan for


def _q(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places))


class MemberStateUsageOut(BaseModel):
    member_state: str
    entitled_share: Decimal
    entitled_hours: Decimal
    used_hours: Decimal
    used_share: Decimal
    difference_hours: Decimal
    share_gap_points: Decimal

    @classmethod
    def of(cls, m: MemberStateUsage) -> MemberStateUsageOut:
        return cls(
            member_state=m.member_state,
            entitled_share=_q(m.entitled_share, "0.0001"),
            entitled_hours=_q(m.entitled_hours),
            used_hours=_q(m.used_hours),
            used_share=_q(m.used_share, "0.0001"),
            difference_hours=_q(m.difference_hours),
            share_gap_points=_q(m.share_gap_points),
        )


class MemberStateReportOut(BaseModel):
    period: str
    start: datetime
    end: datetime
    utilisation: Decimal  # accelerator-hours used over the facility's accelerator-hours in the period
    states: list[MemberStateUsageOut]


class UsageGroupOut(BaseModel):
    key: str
    accelerator_hours: Decimal
    h100_equivalent_hours: Decimal
    energy_kwh: Decimal
    jobs: int

    @classmethod
    def of(cls, g: UsageGroup) -> UsageGroupOut:
        return cls(
            key=g.key,
            accelerator_hours=_q(g.accelerator_hours),
            h100_equivalent_hours=_q(g.h100_equivalent_hours),
            energy_kwh=_q(g.energy_kwh),
            jobs=g.jobs,
        )


class UsageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: Str = Field(min_length=1, max_length=80)
    project_id: Str = Field(min_length=1, max_length=80)
    accelerator_type: Str = Field(min_length=1, max_length=40)
    accelerators: int = Field(gt=0, le=MAX_ACCELERATORS)
    started_at: Instant = Field(description="Timezone-aware, e.g. 2026-11-25T09:00:00Z")
    ended_at: Instant
    member_state: Str | None = Field(default=None, min_length=2, max_length=2)
    pool: Str | None = Field(default=None, max_length=40)
    call_id: Str | None = Field(default=None, max_length=80)
    discipline: Str | None = Field(default=None, max_length=80)


class UsageOut(BaseModel):
    id: str
    job_id: str
    project_id: str
    accelerator_seconds: int
    h100_equivalent_seconds: int
    energy_wh: int

    @classmethod
    def of(cls, r: UsageRecord) -> UsageOut:
        return cls(
            id=r.id,
            job_id=r.job_id,
            project_id=r.project_id,
            accelerator_seconds=r.accelerator_seconds,
            h100_equivalent_seconds=r.h100_equivalent_seconds,
            energy_wh=r.energy_wh,
        )


class StandingOut(BaseModel):
    project_id: str
    allocated_hours: Decimal | None
    used_hours: Decimal
    remaining_hours: Decimal | None
    standing: str

    @classmethod
    def of(cls, s: ProjectStanding) -> StandingOut:
        remaining = s.remaining_hours
        return cls(
            project_id=s.project_id,
            allocated_hours=None if s.allocated_hours is None else _q(s.allocated_hours),
            used_hours=_q(s.used_hours),
            remaining_hours=None if remaining is None else _q(remaining),
            standing=s.standing.value,
        )
