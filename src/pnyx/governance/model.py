"""Governance model: member states, their yearly contributions, arrears and status.

The council (motions, ballots) is in ``motion``; majority rules in ``majority``; policies in ``policy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from pnyx.core.events import DomainEvent
from pnyx.core.ids import MemberStateCode
from pnyx.core.units import Money


class MemberStateStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # a council decision; arrears alone cost the vote only where a rule says so


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberState:
    code: MemberStateCode  # ISO 3166-1 alpha-2
    name: str
    contribution: Money  # annual contribution
    population: int
    joined_on: date
    status: MemberStateStatus = MemberStateStatus.ACTIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberStateAdmitted(DomainEvent):
    event_type = "governance.member_state.admitted"
    code: str
    name: str
    contribution_minor_units: int
    currency: str
    population: int
    joined_on: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContributionChanged(DomainEvent):
    event_type = "governance.member_state.contribution_changed"
    code: str
    contribution_minor_units: int
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Contribution:
    """A member state's contribution for one budget year, in minor units of ``currency``."""

    code: MemberStateCode
    budget_year: int
    cash: int
    in_kind: int
    paid: int  # cash received so far
    currency: str = "EUR"

    @property
    def total(self) -> int:
        return self.cash + self.in_kind

    @property
    def outstanding(self) -> int:
        return max(0, self.cash - self.paid)


@dataclass(frozen=True, slots=True, kw_only=True)
class Standing:
    """A member state in a given budget year: what it contributes, what it owes, whether suspended."""

    state: MemberState
    budget_year: int
    cash: int
    in_kind: int
    arrears: int  # cash unpaid for earlier budget years

    @property
    def contribution(self) -> int:
        return self.cash + self.in_kind


@dataclass(frozen=True, slots=True, kw_only=True)
class ContributionRecorded(DomainEvent):
    event_type = "governance.member_state.contribution_recorded"
    code: str
    budget_year: int
    cash_minor_units: int
    in_kind_minor_units: int
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRecorded(DomainEvent):
    event_type = "governance.member_state.payment_recorded"
    code: str
    budget_year: int
    amount_minor_units: int
    paid_minor_units: int
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberStateStatusChanged(DomainEvent):
    event_type = "governance.member_state.status_changed"
    code: str
    status: str
    reason: str
