"""Accounting model: what ran, for whom, and how it compares with what was owed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pnyx.core.events import DomainEvent


class Dimension(StrEnum):
    """What a usage report is grouped by."""

    MEMBER_STATE = "member-state"
    PROJECT = "project"
    POOL = "pool"
    CALL = "call"
    DISCIPLINE = "discipline"
    ACCELERATOR_TYPE = "accelerator-type"


class Standing(StrEnum):
    """A project's standing against its allocation: over budget means opportunistic priority."""

    WITHIN_BUDGET = "within-budget"
    OVER_BUDGET = "over-budget"
    NO_ALLOCATION = "no-allocation"


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRecord:
    id: str
    job_id: str
    project_id: str
    member_state: str | None
    accelerator_type: str
    accelerators: int
    started_at: datetime
    ended_at: datetime
    accelerator_seconds: int
    h100_equivalent_seconds: int  # accelerator-seconds times the type's speed factor
    energy_wh: int  # estimate: accelerator board power times PUE
    pool: str | None = None
    call_id: str | None = None
    discipline: str | None = None
    user_id: str | None = None  # who ran it (the fair-share history is kept per user)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobUsage:
    """A finished (or stopped) job's use, as it is offered for recording (``record_usages``)."""

    job_id: str
    project_id: str
    accelerator_type: str
    accelerators: int
    started_at: datetime
    ended_at: datetime
    member_state: str | None = None
    pool: str | None = None
    call_id: str | None = None
    discipline: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Period:
    """A half-open interval [start, end) in UTC, with the label it was asked for by."""

    start: datetime
    end: datetime
    label: str

    @property
    def hours(self) -> Decimal:
        return Decimal((self.end - self.start).total_seconds()) / 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectStanding:
    project_id: str
    allocated_hours: Decimal | None
    used_hours: Decimal
    standing: Standing

    @property
    def remaining_hours(self) -> Decimal | None:
        return None if self.allocated_hours is None else self.allocated_hours - self.used_hours


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberStateUsage:
    member_state: str
    entitled_share: Decimal  # of the facility, from the policy in force
    entitled_hours: Decimal  # share times all accelerator-hours used in the period
    used_hours: Decimal
    used_share: Decimal  # of all use in the period

    @property
    def difference_hours(self) -> Decimal:
        """Positive: used more than entitled (excess); negative: shortfall."""
        return self.used_hours - self.entitled_hours

    @property
    def share_gap_points(self) -> Decimal:
        """Percentage points between the share of use received and the share entitled."""
        return (self.used_share - self.entitled_share) * 100


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageGroup:
    key: str
    accelerator_hours: Decimal
    h100_equivalent_hours: Decimal
    energy_kwh: Decimal
    jobs: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRecorded(DomainEvent):
    event_type = "accounting.usage.recorded"
    job_id: str
    project_id: str
    member_state: str | None
    accelerator_type: str
    accelerators: int
    started_at: datetime
    ended_at: datetime
    accelerator_seconds: int
    energy_wh: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectWentOverBudget(DomainEvent):
    event_type = "accounting.project.over_budget"
    project_id: str
    allocated_hours: str
    used_hours: str
