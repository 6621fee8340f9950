"""Accounting bodies. Hours are decimal strings, so no float rounding crosses the wire."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pnyx.accounting.model import MemberStateUsage, ProjectStanding, UsageGroup, UsageRecord


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
    job_id: str = Field(min_length=1, max_length=80)
    project_id: str = Field(min_length=1, max_length=80)
    accelerator_type: str = Field(min_length=1, max_length=40)
    accelerators: int = Field(gt=0)
    started_at: datetime
    ended_at: datetime
    member_state: str | None = Field(default=None, min_length=2, max_length=2)
    pool: str | None = Field(default=None, max_length=40)
    call_id: str | None = Field(default=None, max_length=80)
    discipline: str | None = Field(default=None, max_length=80)

    @model_validator(mode="after")
    def _aware(self) -> UsageIn:
        if self.started_at.tzinfo is None or self.ended_at.tzinfo is None:
            raise ValueError("times need a time zone, e.g. 2026-11-25T09:00:00Z")
        return self


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
